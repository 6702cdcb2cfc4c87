import { expect } from 'chai';
import { reactionToggle } from '../../../../src/realtime/handlers/reaction-toggle.js';
import { expectAppError } from '../../helpers/errors.js';
import { endedCtx, post, roomMessages, schemaCheck, world } from './context.js';

const { ok, bad, dropsIdentity } = schemaCheck(reactionToggle.schema);

/** A world where bob posted one message in general and alice's and bob's sockets joined it. */
async function posted(opts: Parameters<typeof world>[0] = {}) {
  const w = await world(opts);
  w.rooms().add('room:general');
  w.rooms(w.bob).add('room:general');
  const input = { roomId: 'general', messageId: (await post(w, 'general', 'react to me')).id, emoji: '👍' };
  const stored = async () => (await roomMessages(w, 'general'))[0]!.reactions;
  return { w, input, stored };
}

describe('handlers/reaction-toggle', () => {
  it('takes a room id, a message id and a short emoji, and drops any claimed identity', () => {
    ok({ roomId: 'general', messageId: '1-0', emoji: ':tada:' });
    for (const emoji of ['', ' ', 'a\nb', 'x'.repeat(17)]) bad({ roomId: 'general', messageId: '1-0', emoji });
    bad({ roomId: 'general', messageId: 'nope', emoji: '👍' });
    bad({ messageId: '1-0', emoji: '👍' });
    dropsIdentity({ roomId: 'general', messageId: '1-0', emoji: '👍' });
  });

  it("toggles the session user's reaction, answering and sending the whole map to every member", async () => {
    const { w, input, stored } = await posted();
    expect(await w.run(reactionToggle, input)).to.deep.equal({ reactions: { '👍': ['alice'] } });
    await w.run(reactionToggle, input, w.bob);
    expect(await stored()).to.deep.equal({ '👍': ['alice', 'bob'] });
    expect(await w.run(reactionToggle, input)).to.deep.equal({ reactions: { '👍': ['bob'] } });
    const reaction = (reactions: object) => ({ to: 'io:room:general', event: 'reaction', payload: { roomId: 'general', messageId: input.messageId, reactions } });
    expect(w.sent).to.deep.equal([reaction({ '👍': ['alice'] }), reaction({ '👍': ['alice', 'bob'] }), reaction({ '👍': ['bob'] })]);
  });

  it('refuses a room not joined (forbidden) and an unknown message (not_found), changing and sending nothing', async () => {
    const { w, input, stored } = await posted();
    w.rooms().delete('room:general');
    await expectAppError(w.run(reactionToggle, input), 'forbidden');
    await expectAppError(w.run(reactionToggle, { ...input, messageId: '1-0' }, w.bob), 'not_found');
    expect([await stored(), w.sent]).to.deep.equal([undefined, []]);
  });

  it('counts against the reaction limit of the user: beyond it, rate_limited and the map unchanged', async () => {
    const { w, input, stored } = await posted({ limits: { reaction: { points: 1, durationSeconds: 60 } } });
    await w.run(reactionToggle, input);
    await expectAppError(w.run(reactionToggle, input), 'rate_limited');
    expect(await stored()).to.deep.equal({ '👍': ['alice'] });
    expect(w.sent).to.have.length(1);
  });

  it('changes nothing for a session that ended while the event waited (unauthorized)', async () => {
    const { w, input, stored } = await posted();
    await expectAppError(() => reactionToggle.handle(input, endedCtx(w)), 'unauthorized');
    expect([await stored(), w.sent]).to.deep.equal([undefined, []]);
  });
});
