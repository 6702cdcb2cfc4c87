import { expect } from 'chai';
import { emitAck, nextEvent, socketFor, TestClient } from '../helpers/client.js';
import { startServer, type TestServer } from '../helpers/server.js';

describe('a handler whose backend hangs', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer('memory');
  });
  after(() => server.close());

  it('acks internal within 5 s, keeps the connection, and later events work', async () => {
    const c = new TestClient(server.url);
    await c.register();
    const socket = socketFor(server.url, { headers: { cookie: c.cookie } });
    await nextEvent(socket, 'session');
    const chat = server.stores.chat;
    const page = chat.page;
    chat.page = () => new Promise(() => undefined); // never answers
    try {
      // emitAck rejects if no ack comes within 5 s.
      const ack = await emitAck(socket, 'message:history', { roomId: 'general' }, 5000);
      expect(ack).to.deep.equal({ ok: false, error: { code: 'internal', message: 'timed out, try again' } });
      expect(socket.connected).to.equal(true);
    } finally {
      chat.page = page;
    }
    expect((await emitAck(socket, 'message:history', { roomId: 'general' })).ok).to.equal(true);
    socket.close();
  });
});
