import { expect } from 'chai';
import type { Socket } from 'socket.io-client';
import { emitAck } from '../helpers/client.js';
import { BACKENDS } from '../helpers/server.js';
import { ChatHarness, ok } from '../helpers/chat.js';

/*
 * The server lets go of a message's frames once the message is out
 * (src/realtime/ws-fragments.ts): after a client event, the array ws kept its frames in
 * holds nothing, so that an array V8 placed in the old generation cannot keep them alive.
 */

/** ws's receiver of a client's connection, on the server. */
function receiverOf(h: ChatHarness, client: Socket): { _fragments: unknown[] } {
  const { clients } = h.server.app.io.engine as unknown as { clients: Record<string, unknown> };
  const conn = clients[client.io.engine.id] as { transport: { name: string; socket: { _receiver: { _fragments: unknown[] } } } };
  expect(conn.transport.name).to.equal('websocket');
  return conn.transport.socket._receiver;
}

for (const backend of BACKENDS) {
  describe(`ws message frames released (${backend})`, function () {
    this.timeout(20_000);
    const h = new ChatHarness(backend);
    before(() => h.start());
    after(() => h.stop());

    it("a client event's frames are let go once it has been handled", async () => {
      const alice = await h.user();
      const room = await h.room(alice);
      const socket = await h.openIn(alice, room.id);
      const receiver = receiverOf(h, socket);
      for (let i = 0; i < 3; i++) {
        const frames = receiver._fragments;
        ok(await emitAck(socket, 'typing', { roomId: room.id, typing: i % 2 === 0 }));
        expect(frames, `event ${i + 1}`).to.have.length(0);
        expect(receiver._fragments).to.not.equal(frames);
      }
    });
  });
}
