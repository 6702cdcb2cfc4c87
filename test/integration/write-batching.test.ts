import { expect } from 'chai';
import type { Socket as NetSocket } from 'node:net';
import type { Socket } from 'socket.io-client';
import { emitAck, socketFor } from '../helpers/client.js';
import { BACKENDS } from '../helpers/server.js';
import { ChatHarness, ok, type MessageAck } from '../helpers/chat.js';
import type { Message } from '../../src/chat/types.js';

/*
 * Everything sent to a connection in one turn of the event loop leaves in one TCP write
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
