import { expect } from 'chai';
import { once } from 'node:events';
import { createServer, connect, type AddressInfo, type Socket as NetSocket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { batchWrites } from '../../src/realtime/write-batching.js';

/** A full GC (v8's `gc`, exposed for this test only). */
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

/*
 * The shared end-of-turn flush of src/realtime/write-batching.ts on stand-in
 * connections (test/integration/write-batching.test.ts counts the writes of real ones).
 */

describe('write batching: batchWrites', () => {
  /** A stand-in for Engine.IO's Socket: its own `flush` on its prototype, as Engine.IO's is; it records what happens. */
  class FakeConnection {
    constructor(
      readonly name: string,
      readonly calls: string[],
      readonly transport: { name: string; socket?: { _socket?: NetSocket } },
      private readonly onFlush: () => void = () => undefined,
    ) {}
    flush() {
      this.calls.push(`flush ${this.name}`);
      this.onFlush();
    }
  }
  const websocket = (calls: string[], name: string) => ({
    name: 'websocket',
    socket: { _socket: { cork: () => calls.push(`cork ${name}`), uncork: () => calls.push(`uncork ${name}`) } as unknown as NetSocket },
  });
  const turn = () => new Promise((resolve) => setImmediate(resolve));

  /** Batches the connections and flushes each once: what comes after is a connected socket's, past its CONNECT answer. */
  const connected = async (...conns: FakeConnection[]) => {
    for (const conn of conns) {
      batchWrites(conn);
      conn.flush();
    }
    await turn();
    conns[0]?.calls.splice(0);
  };

  it('flushes each connection once at the end of the turn, corked, however often it asks', async () => {
    const calls: string[] = [];
    const a = new FakeConnection('a', calls, websocket(calls, 'a'));
    const b = new FakeConnection('b', calls, websocket(calls, 'b'));
    await connected(a, b);
    a.flush();
    b.flush();
    a.flush();
    expect(calls).to.deep.equal([]);
    await turn();
    expect(calls).to.deep.equal(['cork a', 'flush a', 'uncork a', 'cork b', 'flush b', 'uncork b']);
    calls.length = 0;
    b.flush(); // a later turn flushes again
    await turn();
    expect(calls).to.deep.equal(['cork b', 'flush b', 'uncork b']);
  });

  it('waits for every read that one poll of the event loop delivered, then flushes them all', async () => {
    // Two TCP connections, each sent a byte before the loop polls: one poll finds both
    // readable, and their reads run one after the other, as a busy server's sockets' do.
    // (Whether they did is checked apart: an immediate set by the first read runs after
    // the second only when both came from one poll. A loaded kernel may deliver the second
    // byte late, for a later poll; then the pair is tried again.)
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const open: NetSocket[] = [];
    try {
      for (let attempt = 1; ; attempt++) {
        const accepted: NetSocket[] = [];
        const bothIn = new Promise<void>((resolve) =>
          server.on('connection', function onConnection(s) {
            accepted.push(s);
            if (accepted.length < 2) return;
            server.off('connection', onConnection);
            resolve();
          }),
        );
        const clients = [connect(port, '127.0.0.1'), connect(port, '127.0.0.1')];
        open.push(...clients);
        await Promise.all([...clients.map((c) => once(c, 'connect')), bothIn]);
        open.push(...accepted);
        const calls: string[] = [];
        const conns = ['a', 'b'].map((name) => new FakeConnection(name, calls, websocket(calls, name)));
        await connected(...conns);
        let onePoll: Promise<boolean> | undefined;
        const read = accepted.map(
          (s, i) =>
            new Promise<void>((resolve) =>
              s.once('data', () => {
                calls.push(`read ${conns[i]!.name}`);
                onePoll ??= new Promise((done) => setImmediate(() => done(calls.filter((c) => c.startsWith('read')).length === 2)));
                conns[i]!.flush();
                resolve();
              }),
            ),
        );
        clients[0]!.write('x');
        clients[1]!.write('y');
        await Promise.all(read);
        await turn();
        if (!(await onePoll)) {
          expect(attempt, 'no two reads in one poll in 20 tries').to.be.below(20);
          continue;
        }
        const [first, second] = calls.slice(0, 2).map((c) => c.slice('read '.length));
        expect(calls, 'both reads, then both flushes').to.deep.equal([
          `read ${first}`,
          `read ${second}`,
          `cork ${first}`,
          `flush ${first}`,
          `uncork ${first}`,
          `cork ${second}`,
          `flush ${second}`,
          `uncork ${second}`,
        ]);
        return;
      }
    } finally {
      for (const s of open) s.destroy();
      server.close();
    }
  });

  it("flushes a connection's first packets (its CONNECT answer) at the end of the callback that sent them, its later ones at the end of the turn", async () => {
    const calls: string[] = [];
    const a = new FakeConnection('a', calls, websocket(calls, 'a'));
    batchWrites(a);
    await new Promise<void>((resolve) => {
      // Two callbacks of one phase of the event loop, as two sockets' reads in one poll are.
      setImmediate(() => {
        a.flush();
        calls.push('callback 1 done');
      });
      setImmediate(() => {
        calls.push('callback 2');
        a.flush();
        calls.push('callback 2 done');
        resolve();
      });
    });
    expect(calls).to.deep.equal(['callback 1 done', 'cork a', 'flush a', 'uncork a', 'callback 2', 'callback 2 done']);
    await turn();
    expect(calls.slice(6)).to.deep.equal(['cork a', 'flush a', 'uncork a']);
  });

  it('flushes a connection again that asks while it flushes, and the others even when one flush throws', async () => {
    const calls: string[] = [];
    let again = true;
    const a = new FakeConnection('a', calls, websocket(calls, 'a'), () => {
      if (again) (again = false), a.flush();
    });
    const failing = new FakeConnection('x', calls, websocket(calls, 'x'), () => {
      throw new Error('transport gone');
    });
    const b = new FakeConnection('b', calls, { name: 'polling' });
    for (const conn of [a, failing, b]) batchWrites(conn);
    a.flush();
    failing.flush();
    b.flush();
    const thrown = new Promise<unknown>((resolve) => {
      const listeners = process.listeners('uncaughtException');
      process.removeAllListeners('uncaughtException');
      process.once('uncaughtException', (err) => {
        for (const l of listeners) process.on('uncaughtException', l);
        resolve(err);
      });
    });
    expect(String(await thrown)).to.contain('transport gone');
    await turn();
    // x uncorked though it threw; b (long-polling) without corking; a again, since it asked again while flushing.
    expect(calls).to.deep.equal(['cork a', 'flush a', 'uncork a', 'cork x', 'flush x', 'uncork x', 'flush b', 'cork a', 'flush a', 'uncork a']);
  });

  it('keeps no connection once it is flushed, nor after a flush that threw', async () => {
    const refs: Array<WeakRef<object>> = [];
    await (async () => {
      const calls: string[] = [];
      const a = new FakeConnection('a', calls, websocket(calls, 'a'));
      const failing = new FakeConnection('x', calls, { name: 'polling' }, () => {
        throw new Error('transport gone');
      });
      const b = new FakeConnection('b', calls, { name: 'polling' });
      for (const conn of [a, failing, b]) batchWrites(conn);
      const thrown = new Promise<void>((resolve) => {
        const listeners = process.listeners('uncaughtException');
        process.removeAllListeners('uncaughtException');
        process.once('uncaughtException', () => {
          for (const l of listeners) process.on('uncaughtException', l);
          resolve();
        });
      });
      a.flush();
      failing.flush();
      b.flush();
      await thrown;
      await turn();
      expect(calls).to.deep.equal(['cork a', 'flush a', 'uncork a', 'flush x', 'flush b']);
      refs.push(new WeakRef(a), new WeakRef(failing), new WeakRef(b));
    })();
    await turn();
    collectGarbage();
    expect(refs.map((r) => r.deref()?.constructor.name ?? 'collected')).to.deep.equal(['collected', 'collected', 'collected']);
  });
});

