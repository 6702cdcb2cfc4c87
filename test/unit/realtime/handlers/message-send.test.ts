import { expect } from 'chai';
import { messageSend } from '../../../../src/realtime/handlers/message-send.js';
import { roomConversation } from '../../../../src/chat/conversations.js';
import { expectAppError } from '../../helpers/errors.js';
import { world } from './context.js';

const ok = (payload: unknown) => expect(messageSend.schema.safeParse(payload).success, JSON.stringify(payload)).to.equal(true);
const bad = (payload: unknown) => expect(messageSend.schema.safeParse(payload).success, JSON.stringify(payload)).to.equal(false);

describe('handlers/message-send', () => {
  it('takes a room id, a text and an optional clientMsgId, and drops any claimed identity', () => {
    ok({ roomId: 'general', text: 'x', clientMsgId: 'c'.repeat(64) });
    bad({ roomId: 'general', text: '  ' });
    bad({ roomId: 'general', text: 'x', clientMsgId: '' });
    bad({ roomId: 'general', text: 'x', clientMsgId: 'c'.repeat(65) });
    bad({ text: 'x' });
    expect(messageSend.schema.parse({ roomId: 'general', text: 'hi', user: { id: 'x' }, userId: 'x' })).to.deep.equal({ roomId: 'general', text: 'hi' });
  });

  it('stores the message as the session user and sends it to every member of the room, the sender included', async () => {
    const w = await world();
    w.rooms().add('room:general');
    const { message } = await w.run(messageSend, { roomId: 'general', text: 'hi', clientMsgId: 'c1' });
    expect(message).to.include({ roomId: 'general', text: 'hi', clientMsgId: 'c1' });
    expect(message.user).to.deep.equal(w.alice);
    expect(await w.chat.page(roomConversation('general'), { limit: 10 })).to.deep.equal([message]);
    // The store found no other process serving the room (one process here): not published.
    expect(w.sent).to.deep.equal([{ to: 'local:room:general', event: 'message:new', payload: message }]);
  });

  it('sends through every process when the store says another one serves the room', async () => {
    const w = await world();
    w.rooms().add('room:general');
    const post = w.chat.postToRoom.bind(w.chat);
    w.chat.postToRoom = async (...args) => {
      const posted = await post(...args);
      return typeof posted === 'string' ? posted : { ...posted, servedElsewhere: true };
    };
    const { message } = await w.run(messageSend, { roomId: 'general', text: 'hi' });
    expect(w.sent).to.deep.equal([{ to: 'io:room:general', event: 'message:new', payload: message }]);
  });

  it('refuses a room the socket has not joined (forbidden), storing nothing', async () => {
    const w = await world();
    await expectAppError(w.run(messageSend, { roomId: 'general', text: 'hi' }), 'forbidden');
    expect(await w.chat.page(roomConversation('general'), { limit: 10 })).to.deep.equal([]);
    expect(w.sent).to.deep.equal([]);
  });

  it('counts against the send limit of the user: beyond it, rate_limited and nothing stored', async () => {
    const w = await world({ limits: { send: { points: 2, durationSeconds: 60 } } });
    w.rooms().add('room:general');
    await w.run(messageSend, { roomId: 'general', text: '1' });
    await w.run(messageSend, { roomId: 'general', text: '2' });
    await expectAppError(w.run(messageSend, { roomId: 'general', text: '3' }), 'rate_limited');
    expect((await w.chat.page(roomConversation('general'), { limit: 10 })).map((m) => m.text)).to.deep.equal(['1', '2']);
  });

  it('stores nothing for a session that ended while the event waited (unauthorized)', async () => {
    const w = await world();
    w.rooms().add('room:general');
    const ctx = w.ctx();
    w.sessions.set(w.alice.id, null);
    await expectAppError(() => messageSend.handle({ roomId: 'general', text: 'late' }, ctx), 'unauthorized');
    expect(await w.chat.page(roomConversation('general'), { limit: 10 })).to.deep.equal([]);
    expect(w.sent).to.deep.equal([]);
  });
});
