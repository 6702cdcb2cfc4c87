import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import { createClient } from 'redis';
import { createLogger } from '../../src/logger.js';
import { redisKeys } from '../../src/store/keys.js';
import { createMemoryRoomInterest } from '../../src/store/memory/infra.js';
import type { RedisClient } from '../../src/store/redis/client.js';
import { createRedisBus } from '../../src/store/redis/infra.js';
import { createRedisRoomInterest, type RedisRoomInterest } from '../../src/store/redis/interest.js';
import type { RelayedEvent } from '../../src/store/types.js';
import { connectTestClient, deleteKeys, REDIS_URL, uniquePrefix } from './helpers/redis.js';

/** Polls until `check` holds (a replica converges within moments, not at a fixed time). */
async function until(what: string, check: () => boolean, ms = 3000) {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await sleep(10);
  }
}

describe('room interest', () => {
  it('in memory (one process): no room has sockets elsewhere', async () => {
    const interest = createMemoryRoomInterest();
    await interest.here('room:a');
    expect(interest.elsewhere('room:a')).to.equal(false);
  });

  describe('on Redis', () => {
    const prefix = uniquePrefix();
    const keys = redisKeys(prefix);
    const log = createLogger('silent');
    let admin: RedisClient;
    const opened: Array<{ interest: RedisRoomInterest; clients: RedisClient[] }> = [];

    /** A process's view: its own connections, bus and interest, as src/store/index.ts wires them. */
    async function peer(opts: { refreshMs?: number; ttlMs?: number } = {}) {
      const name = `interest-test-${randomUUID().slice(0, 8)}`;
      const connect = (role: string) => {
        const c: RedisClient = createClient({ url: REDIS_URL, name: `${name}-${role}`, socket: { reconnectStrategy: 20 } });
        c.on('error', () => undefined);
        return c;
      };
      const client = connect('commands');
      const subscriber = connect('subscriber');
      await Promise.all([client.connect(), subscriber.connect()]);
      const bus = createRedisBus(client, subscriber, keys, log);
      await bus.start();
      const interest = createRedisRoomInterest(client, subscriber, bus, keys, log, { processId: name, refreshMs: opts.refreshMs, ttlMs: opts.ttlMs });
      opened.push({ interest, clients: [client, subscriber] });
      return { interest, name, subscriber, start: () => interest.start() };
    }

    /** Cuts a process's subscription the way a Redis restart or network blip does; node-redis reconnects. */
    async function cutSubscriber(name: string) {
      const list = (await admin.sendCommand(['CLIENT', 'LIST'])) as string;
      const line = list.split('\n').find((l) => l.includes(` name=${name}-subscriber `));
      const id = line?.match(/^id=(\d+)/)?.[1];
      if (!id) throw new Error(`no subscriber connection named ${name}`);
      await admin.sendCommand(['CLIENT', 'KILL', 'ID', id]);
    }

    before(async () => {
      admin = await connectTestClient();
    });
    afterEach(async () => {
      for (const { interest, clients } of opened.splice(0)) {
        await interest.close();
        await Promise.allSettled(clients.map((c) => c.close()));
      }
    });
    after(async () => {
      await deleteKeys(admin, prefix);
      expect(await deleteKeys(admin, prefix)).to.equal(0);
      await admin.close();
    });

    it('counts every room as elsewhere until it has read the others', async () => {
      const a = await peer();
      expect(a.interest.elsewhere('room:any')).to.equal(true);
      await a.start();
      expect(a.interest.elsewhere('room:any')).to.equal(false);
    });

    it('tells other processes when it gains and loses a room, and a late starter reads what is there', async () => {
      const a = await peer();
      const b = await peer();
      await Promise.all([a.start(), b.start()]);
      await a.interest.here('room:1');
      await a.interest.here('room:2');
      await until('B hears of room:1', () => b.interest.elsewhere('room:1'));
      expect(a.interest.elsewhere('room:1'), 'a process is not elsewhere to itself').to.equal(false);

      a.interest.gone('room:1');
      await until('B hears room:1 is gone', () => !b.interest.elsewhere('room:1'));
      expect(b.interest.elsewhere('room:2')).to.equal(true);

      const late = await peer();
      await late.start();
      expect(late.interest.elsewhere('room:2')).to.equal(true);
      expect(late.interest.elsewhere('room:1')).to.equal(false);
    });

    it('relays an event only to the processes with sockets in its room, and declines while it does not know', async () => {
      const a = await peer();
      const b = await peer();
      const c = await peer();
      const got = { b: [] as RelayedEvent[], c: [] as RelayedEvent[] };
      b.interest.onRelay((e) => got.b.push(e));
      c.interest.onRelay((e) => got.c.push(e));
      const event = (room: string): RelayedEvent => ({ room, except: 'sender-socket', event: 'typing', data: { typing: true } });
      expect(a.interest.relay(event('room:t')), 'not started: use the adapter').to.equal(false);

      await Promise.all([a.start(), b.start(), c.start()]);
      await b.interest.here('room:t');
      await until('A hears of room:t', () => a.interest.elsewhere('room:t'));
      expect(a.interest.relay(event('room:t'))).to.equal(true);
      expect(a.interest.relay(event('room:nobody')), 'handled: nobody to send to').to.equal(true);
      await until('B gets the event', () => got.b.length === 1);
      await sleep(50);
      expect(got.b).to.deep.equal([event('room:t')]);
      expect(got.c, 'C has no socket in room:t').to.deep.equal([]);
    });

    it('forgets a process that stopped refreshing', async () => {
      const dead = await peer({ refreshMs: 60_000, ttlMs: 300 });
      const b = await peer({ refreshMs: 50, ttlMs: 300 });
      await Promise.all([dead.start(), b.start()]);
      await dead.interest.here('room:x');
      await until('B hears of room:x', () => b.interest.elsewhere('room:x'));
      await until('B forgets the silent process', () => !b.interest.elsewhere('room:x'), 5000);
    });

    it('removes its entry when it closes', async () => {
      const a = await peer();
      const b = await peer();
      await Promise.all([a.start(), b.start()]);
      await a.interest.here('room:c');
      await until('B hears of room:c', () => b.interest.elsewhere('room:c'));
      await a.interest.close();
      await until('B hears A left', () => !b.interest.elsewhere('room:c'));
      expect(await admin.exists(keys.interestProcess(a.name))).to.equal(0);
    });

    it('assumes elsewhere while its bus is cut off, and writes its rooms again after (Redis may have lost them)', async () => {
      const a = await peer();
      const b = await peer({ refreshMs: 50 });
      await Promise.all([a.start(), b.start()]);
      await a.interest.here('room:r');
      await until('B hears of room:r', () => b.interest.elsewhere('room:r'));

      // Redis loses everything: B's next refresh finds nobody.
      await deleteKeys(admin, prefix);
      await until('B sees the empty Redis', () => !b.interest.elsewhere('room:r'));

      // A's subscription drops and comes back: meanwhile every room is elsewhere to A; then A rewrites its set.
      // (node-redis reconnects within milliseconds, so look at the moment the connection drops.)
      const duringCutOff = new Promise<boolean>((resolve) => a.subscriber.once('error', () => resolve(a.interest.elsewhere('room:nowhere'))));
      await cutSubscriber(a.name);
      expect(await duringCutOff, 'a room nobody has is elsewhere while cut off').to.equal(true);
      await until('A is whole again', () => !a.interest.elsewhere('room:nowhere'));
      await until('B reads A\'s rewritten set', () => b.interest.elsewhere('room:r'));
    });
  });
});
