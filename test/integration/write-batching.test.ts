import { expect } from 'chai';
import type { Socket as NetSocket } from 'node:net';
import type { Socket } from 'socket.io-client';
import { batchWrites } from '../../src/realtime/write-batching.js';
import { emitAck, socketFor } from '../helpers/client.js';
import { BACKENDS } from '../helpers/server.js';
import { ChatHarness, ok, type MessageAck } from '../helpers/chat.js';
import type { Message } from '../../src/chat/types.js';

/*
 * Everything sent to a connection in one tick leaves in one TCP write
 * (src/realtime/write-batching.ts): a room message to its sender and the ack that
 * follows it are one write, not two, and arrive in order.
 */

/** The server side of a client's WebSocket: its TCP socket, with a count of the writes made on it. */
function serverWrites(h: ChatHarness, client: Socket): { count: () => number } {
  const { clients } = h.server.app.io.engine as unknown as { clients: Record<string, unknown> };
  const conn = clients[client.io.engine.id] as { transport: { socket: { _socket: NetSocket } } };
  return countWrites(conn.transport.socket._socket);
}

/** Counts the writes made on a TCP socket from now on. */
function countWrites(socket: NetSocket): { count: () => number } {
  const raw = socket as NetSocket & { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void };
  let writes = 0;
  for (const name of ['_write', '_writev'] as const) {
    const original = raw[name].bind(raw);
    raw[name] = (...args: unknown[]) => {
      writes += 1;
      original(...args);
    };
  }
  return { count: () => writes };
}

for (const backend of BACKENDS) {
  describe(`write batching (${backend})`, function () {
    this.timeout(20_000);
    const h = new ChatHarness(backend);
    before(() => h.start());
    after(() => h.stop());

    it("a room message's ack and its copy for the sender leave in one write, the copy first", async () => {
      const alice = await h.user();
      const room = await h.room(alice);
      const socket = await h.openIn(alice, room.id);
      const seen: string[] = [];
      socket.on('message:new', (m: Message) => seen.push(`new:${m.text}`));
      const writes = serverWrites(h, socket);
      const ack = await emitAck<MessageAck>(socket, 'message:send', { roomId: room.id, text: 'one write' });
      seen.push('ack');
      expect(ok(ack).message.text).to.equal('one write');
      expect(seen).to.deep.equal(['new:one write', 'ack']);
      expect(writes.count()).to.equal(1);
    });

    it("a session's next socket: the 101 and the open packet are one write, the CONNECT answer and the session event one more", async () => {
      const alice = await h.user();
      await h.open(alice); // online already, and the session live here: nothing else is sent to the next socket
      let writes: { count: () => number } | undefined;
      const onUpgrade = (_req: unknown, raw: NetSocket) => (writes = countWrites(raw));
      h.server.app.httpServer.prependOnceListener('upgrade', onUpgrade);
      const socket = socketFor(h.url, { headers: { cookie: alice.cookie } });
      try {
        const session = await new Promise<{ user: { id: string } }>((resolve, reject) => {
          socket.once('session', resolve);
          socket.once('connect_error', reject);
        });
        expect(session.user.id).to.equal(alice.user.id);
        expect(writes?.count()).to.equal(2);
      } finally {
        h.server.app.httpServer.removeListener('upgrade', onUpgrade);
        socket.close();
      }
    });
  });
}

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
});
