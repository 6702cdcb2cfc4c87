import { expect } from 'chai';
import { dmSend } from '../../../../src/realtime/handlers/dm-send.js';
import { expectAppError } from '../../helpers/errors.js';
import { dmMessages, endedCtx, schemaCheck, world } from './context.js';

const { ok, bad, dropsIdentity } = schemaCheck(dmSend.schema);

describe('handlers/dm-send', () => {
  it('takes a username, a text and an optional clientMsgId, and drops any claimed identity', () => {
    ok({ to: 'bob_1', text: 'x', clientMsgId: 'c'.repeat(64) });
    for (const to of ['bo', 'Bob', 'b-ob', 'x'.repeat(33)]) bad({ to, text: 'x' });
    for (const text of ['', '  ']) bad({ to: 'bob', text });
    bad({ to: 'bob', text: 'x', clientMsgId: '' });
    dropsIdentity({ to: 'bob', text: 'hi', clientMsgId: 'c1' });
  });

  it("stores the message as the session user and sends dm:new to both users' rooms", async () => {
    const w = await world();
    const { message } = await w.run(dmSend, { to: 'bob', text: 'hi', clientMsgId: 'c1' });
    expect(message).to.include({ roomId: 'dm:alice:bob', to: 'bob', text: 'hi', clientMsgId: 'c1' });
    expect(message.user).to.deep.equal(w.alice);
    expect(await dmMessages(w, w.bob, w.alice)).to.deep.equal([message]);
    expect(w.sent).to.have.deep.members([
      { to: `io:user:${w.alice.id}`, event: 'dm:new', payload: message },
      { to: `io:user:${w.bob.id}`, event: 'dm:new', payload: message },
    ]);
  });

  it('sends a note to oneself once, to the own user room', async () => {
    const w = await world();
    const { message } = await w.run(dmSend, { to: 'alice', text: 'note' });
    expect(message).to.include({ roomId: 'dm:alice:alice', to: 'alice' });
    expect(w.sent).to.deep.equal([{ to: `io:user:${w.alice.id}`, event: 'dm:new', payload: message }]);
  });

  it('refuses an unknown user (not_found) without spending the send limit, which then applies', async () => {
    const w = await world({ limits: { send: { points: 1, durationSeconds: 60 } } });
    await expectAppError(w.run(dmSend, { to: 'nobody', text: 'typo' }), 'not_found');
    expect(w.sent).to.deep.equal([]);
    await w.run(dmSend, { to: 'bob', text: 'one' });
    await expectAppError(w.run(dmSend, { to: 'bob', text: 'two' }), 'rate_limited');
    expect((await dmMessages(w, w.alice, w.bob)).map((m) => m.text)).to.deep.equal(['one']);
  });

  it('stores and sends nothing for a session that ended while the event waited (unauthorized)', async () => {
    const w = await world();
    await expectAppError(() => dmSend.handle({ to: 'bob', text: 'late' }, endedCtx(w)), 'unauthorized');
    expect([await dmMessages(w, w.alice, w.bob), w.sent]).to.deep.equal([[], []]);
  });
});
