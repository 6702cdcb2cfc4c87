import { expect } from 'chai';
import type { Socket as NetSocket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { batchWrites } from '../../src/realtime/write-batching.js';

/** A full GC (v8's `gc`, exposed for this test only). */
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

/*
 * The shared end-of-tick flush of src/realtime/write-batching.ts on stand-in
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

  it('flushes each connection once at the end of the tick, corked, however often it asks', async () => {
    const calls: string[] = [];
    const a = new FakeConnection('a', calls, websocket(calls, 'a'));
    const b = new FakeConnection('b', calls, websocket(calls, 'b'));
    batchWrites(a);
    batchWrites(b);
    a.flush();
    b.flush();
    a.flush();
    expect(calls).to.deep.equal([]);
    await turn();
    expect(calls).to.deep.equal(['cork a', 'flush a', 'uncork a', 'cork b', 'flush b', 'uncork b']);
    calls.length = 0;
    b.flush(); // a later tick flushes again
    await turn();
    expect(calls).to.deep.equal(['cork b', 'flush b', 'uncork b']);
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

