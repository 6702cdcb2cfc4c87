import { randomUUID } from 'node:crypto';
import { createServer, connect, type AddressInfo, type Server } from 'node:net';
import { Writable } from 'node:stream';
import { expect } from 'chai';
import { pino } from 'pino';
import request from 'supertest';
import { loadConfig } from '../../src/config.js';
import { start, type Started } from '../../src/start.js';
import { createStores, type RedisStores } from '../../src/store/index.js';
import { BACKENDS, type Backend } from '../helpers/server.js';
import { needs } from '../support/services.js';
import { deleteRedisPrefix, REDIS_URL } from '../unit/helpers/redis.js';

/** A logger at `level` whose lines land in `lines` (parsed). */
function capturingLogger(level: string) {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level }, stream), lines };
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
function accepts(port: number) {
  return new Promise<boolean>((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** The process's sockets and servers (active handles), by type. */
function netHandles() {
  const counts: Record<string, number> = {};
  for (const type of process.getActiveResourcesInfo()) if (type.startsWith('TCP')) counts[type] = (counts[type] ?? 0) + 1;
  return counts;
}

/** Waits (a little: closed handles go away on the next turns of the loop) until the net handles are `expected`. */
async function expectNetHandles(expected: Record<string, number>) {
  for (let i = 0; i < 50 && JSON.stringify(netHandles()) !== JSON.stringify(expected); i++) await new Promise((r) => setTimeout(r, 20));
  expect(netHandles()).to.deep.equal(expected);
}

describe('start(config): the one boot of the server', () => {
  const prefixes: string[] = [];
  /** The settings of one server on `backend`: a free port, its own Redis prefix. */
  function configFor(backend: Backend, env: Record<string, string> = {}) {
    const prefix = `test:start:${randomUUID().slice(0, 8)}:`;
    prefixes.push(prefix);
    return loadConfig({
      LOG_LEVEL: 'silent',
      SESSION_SECRET: 'test-secret-0123456789abcdef',
      HOST: '127.0.0.1',
      PORT: '0',
      ...(backend === 'redis' ? { REDIS_URL, REDIS_PREFIX: prefix } : {}),
      ...env,
    });
  }
  after(async () => {
    for (const prefix of prefixes) await deleteRedisPrefix(prefix);
  });

  for (const backend of BACKENDS) {
    describe(backend, () => {
      needs(backend);
      let server: Started | undefined;
      afterEach(async () => {
        await server?.close();
        server = undefined;
      });

      it('listens on a free port, answers /healthz, and close() frees the port and the stores, once however often it is called', async () => {
        server = await start(configFor(backend), { announce: false });
        expect(server.port).to.be.above(0);
        expect(server.url).to.equal(`http://127.0.0.1:${server.port}`);
        expect(server.stores.kind).to.equal(backend);
        await request(server.url).get('/healthz').expect(200);

        const first = server.close();
        expect(server.close()).to.equal(first);
        await first;
        await server.close();
        expect(await accepts(server.port)).to.equal(false);
        if (backend === 'redis') {
          const stores = server.stores as RedisStores;
          expect([stores.client.isOpen, stores.subscriber.isOpen]).to.deep.equal([false, false]);
        }
      });

      it('rejects, naming the address, when the port is taken, and leaves nothing open', async () => {
        const blocker: Server = createServer();
        await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
        const { port } = blocker.address() as AddressInfo;
        try {
          const before = netHandles();
          const err = await start(configFor(backend, { PORT: String(port) }), { announce: false }).then(
            () => null,
            (e: unknown) => e,
          );
          expect(err).to.be.an.instanceOf(Error);
          expect((err as Error).message).to.equal(`cannot listen on 127.0.0.1:${port}: the port is already in use (EADDRINUSE)`);
          expect(((err as Error).cause as NodeJS.ErrnoException).code).to.equal('EADDRINUSE');
          // No server of its own and, on Redis, no connection left behind.
          await expectNetHandles(before);
        } finally {
          blocker.close();
        }
      });
    });
  }

  it('writes the readiness line whatever the log level, after the warnings about memory stores and a generated secret', async () => {
    const { log, lines } = capturingLogger('warn');
    const server = await start(configFor('memory', { SESSION_SECRET: '' }), { log });
    try {
      expect(lines.map((l) => [l.level, l.msg])).to.deep.equal([
        [40, 'neither REDIS_URL nor REDIS_CLUSTER_NODES is set: using in-memory stores (one process, nothing kept across restarts)'],
        [40, 'SESSION_SECRET is not set: using a random secret, so sessions end at restart'],
        [30, `listening on http://127.0.0.1:${server.port}`],
      ]);
      expect(lines[2]!.store).to.equal('memory');
    } finally {
      await server.close();
    }

    const silent = capturingLogger('silent');
    const quiet = await start(configFor('redis'), { log: silent.log });
    await quiet.close();
    expect(silent.lines.map((l) => l.msg)).to.deep.equal([`listening on http://127.0.0.1:${quiet.port}`]);

    const unannounced = capturingLogger('info');
    await (await start(configFor('redis'), { log: unannounced.log, announce: false })).close();
    expect(unannounced.lines.filter((l) => String(l.msg).startsWith('listening on'))).to.deep.equal([]);
  });

  it('leaves stores it was given open, for their owner to close', async () => {
    const config = configFor('redis');
    const { log } = capturingLogger('silent');
    const stores = (await createStores(config, log)) as RedisStores;
    try {
      const server = await start(config, { log, stores, announce: false });
      expect(server.stores).to.equal(stores);
      await request(server.url).get('/healthz').expect(200);
      await server.close();
      expect(await accepts(server.port)).to.equal(false);
      expect([stores.client.isOpen, stores.subscriber.isOpen]).to.deep.equal([true, true]);
    } finally {
      await stores.close();
    }
  });
});
