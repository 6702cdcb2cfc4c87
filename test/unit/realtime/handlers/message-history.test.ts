import { expect } from 'chai';
import { createRoom } from '../../../../src/chat/rooms.js';
import { messageHistory } from '../../../../src/realtime/handlers/message-history.js';
import { expectAppError } from '../../helpers/errors.js';
import { post, schemaCheck, world } from './context.js';

const { ok, bad, dropsIdentity } = schemaCheck(messageHistory.schema);

describe('handlers/message-history', () => {
  it('takes a room id with optional before, after and limit (1-100), and drops any claimed identity', () => {
    ok({ roomId: 'general', before: '9-0', after: '5-1', limit: 100 });
    for (const limit of [0, 101, 1.5, '10']) bad({ roomId: 'general', limit });
    for (const id of ['5', 'x-1', 7]) bad({ roomId: 'general', before: id });
    for (const payload of [{ limit: 10 }, { roomId: 'General' }, { roomId: '' }]) bad(payload);
    dropsIdentity({ roomId: 'general', after: '1-0', limit: 3 });
  });

  it("pages the room's own messages oldest first: back from the newest or `before`, forward after `after`", async () => {
    const w = await world();
    await createRoom(w.chat, w.alice, { id: 'books' });
    const [m1, m2, m3] = [await post(w, 'general', '1'), await post(w, 'general', '2'), await post(w, 'general', '3')];
    await post(w, 'books', 'elsewhere');
    expect(await w.run(messageHistory, { roomId: 'general' })).to.deep.equal({ messages: [m1, m2, m3], hasMore: false });
    expect(await w.run(messageHistory, { roomId: 'general', limit: 2 })).to.deep.equal({ messages: [m2, m3], hasMore: true });
    expect(await w.run(messageHistory, { roomId: 'general', before: m2.id })).to.deep.equal({ messages: [m1], hasMore: false });
    expect(await w.run(messageHistory, { roomId: 'general', after: m1.id, limit: 1 })).to.deep.equal({ messages: [m2], hasMore: true });
    expect(await w.run(messageHistory, { roomId: 'general', after: m1.id, before: m3.id })).to.deep.equal({ messages: [m2], hasMore: false });
    expect(w.sent).to.deep.equal([]);
  });

  it("refuses someone else's private room (forbidden) and an unknown room (not_found)", async () => {
    const w = await world();
    await createRoom(w.chat, w.bob, { id: 'secret', private: true });
    const secret = await post(w, 'secret', 'for bob');
    await expectAppError(w.run(messageHistory, { roomId: 'secret' }), 'forbidden');
    await expectAppError(w.run(messageHistory, { roomId: 'nowhere' }), 'not_found');
    expect((await w.run(messageHistory, { roomId: 'secret' }, w.bob)).messages).to.deep.equal([secret]);
  });
});
