import { expect } from 'chai';
import { CATCH_UP_KEEP, GAP_PAGE } from '../../public/js/chat/core/catch-up.js';
import { PAGE } from '../../public/js/chat/core/history.js';
import type { Message } from '../../public/js/chat/types.js';
import { type Ack, fail, ids, joinAnswers, makeCore, msg, range, settle } from './fakes.js';

/** `message:history {after}` over a room's whole stored history, `limit` at a time. */
function historyAfter(all: Message[]) {
  return ({ after, limit }: { after?: string; limit: number }): Ack => {
    if (!after) return { ok: true, messages: all.slice(-limit), hasMore: all.length > limit };
    const rest = all.slice(all.findIndex((m) => m.id === after) + 1);
    return { ok: true, messages: rest.slice(0, limit), hasMore: rest.length > limit };
  };
}

/** A core that has shown `general` with `known` messages, then lost its connection. */
async function reconnecting(known: Message[]) {
  const t = makeCore();
  t.link.answer('room:join', joinAnswers({ general: known })).answer('presence:list', { ok: true, online: [] });
  await t.core.joins.connected(false);
  t.link.sent.length = 0;
  return { ...t, general: t.core.state.roomConv('general')! };
}

describe('client core: catch-up', () => {
  it('rejoins with `since` the last message shown and fills the gap page by page, in order, without repeats', async () => {
    const { core, link, general } = await reconnecting(range(1, 5));
    const stored = range(1, 5 + 250);
    const afterFive = stored.slice(5);
    link.answer('room:join', { ok: true, room: { id: 'general', name: 'General', private: false, owner: null }, history: afterFive.slice(0, GAP_PAGE), hasMore: true });
    link.answer('message:history', historyAfter(stored));
    await core.joins.connected(true);
    expect(link.of('room:join')).to.deep.equal([{ roomId: 'general', since: '5-0' }]);
    expect(link.of('message:history').map((p) => p.after)).to.deep.equal(['105-0', '205-0']);
    expect(ids(general)).to.deep.equal(stored.map((m) => m.id));
    expect(general.title).to.equal('General');
  });

  it(`takes the newest page instead of a gap longer than ${CATCH_UP_KEEP}, and pages back from there`, async () => {
    const { core, link, general } = await reconnecting(range(1, 5));
    const stored = range(1, 5 + CATCH_UP_KEEP + 50);
    link.answer('room:join', { ok: true, room: { id: 'general', name: 'General', private: false, owner: null }, history: stored.slice(5, 5 + GAP_PAGE), hasMore: true });
    link.answer('message:history', historyAfter(stored));
    await core.joins.connected(true);
    const newest = link.of('message:history').at(-1);
    expect(newest).to.deep.equal({ roomId: 'general', limit: PAGE });
    expect(ids(general)).to.deep.equal(stored.slice(-PAGE).map((m) => m.id));
    expect(general.hasOlder).to.equal(true);
  });

  it('takes the newest page instead when a gap page fails, so no hole is left', async () => {
    const { core, link, general } = await reconnecting(range(1, 5));
    const stored = range(1, 400);
    link.answer('room:join', { ok: true, room: { id: 'general', name: 'General', private: false, owner: null }, history: stored.slice(5, 105), hasMore: true });
    link.answer('message:history', (p: { after?: string; limit: number }) => (p.after ? fail('timeout') : historyAfter(stored)(p)));
    await core.joins.connected(true);
    expect(ids(general)).to.deep.equal(stored.slice(-PAGE).map((m) => m.id));
  });

  it('holds live messages while the gap is filled and adds them after it', async () => {
    const { core, link, general } = await reconnecting(range(1, 3));
    const stored = range(1, 150);
    link.answer('room:join', { ok: true, room: { id: 'general', name: 'General', private: false, owner: null }, history: stored.slice(3, 103), hasMore: true });
    link.answer('message:history', historyAfter(stored)).hold('message:history');
    const done = core.joins.connected(true);
    await settle();
    expect(core.roomMessage(msg('151-0'))).to.equal(true);
    expect(ids(general), 'held back until the gap is filled').to.deep.equal(['1-0', '2-0', '3-0']);
    await link.release('message:history');
    await done;
    expect(ids(general)).to.deep.equal([...stored, msg('151-0')].map((m) => m.id));
    expect(core.catchUp.held.size).to.equal(0);
    core.roomMessage(msg('152-0'));
    expect(ids(general).at(-1), 'live again once caught up').to.equal('152-0');
  });

  it('adds a live message once even when the join answers it too, and ignores rooms the page does not have', async () => {
    const { core, general } = await reconnecting(range(1, 3));
    core.roomMessage(msg('3-0'));
    core.roomMessage(msg('4-0'));
    core.roomMessage(msg('4-0'));
    expect(ids(general)).to.deep.equal(['1-0', '2-0', '3-0', '4-0']);
    expect(core.roomMessage(msg('5-0', { roomId: 'elsewhere' }))).to.equal(false);
  });

  it('catches up a direct-message conversation backwards until it meets the last message shown, and counts what is unread', async () => {
    const t = makeCore();
    t.link.answer('room:join', joinAnswers()).answer('presence:list', { ok: true, online: [] });
    const dm = (id: string, from = 'bob') => msg(id, { roomId: 'dm:alice:bob', from, to: from === 'bob' ? 'alice' : 'bob' });
    const all = ['1-0', '2-0', '3-0', '4-0', '5-0', '6-0', '7-0'].map((id, i) => dm(id, i === 5 ? 'alice' : 'bob'));
    t.link.answer('dm:history', (p: { before?: string; limit: number }) => {
      const upto = p.before ? all.findIndex((m) => m.id === p.before) : all.length;
      const page = all.slice(Math.max(0, upto - 2), upto);
      return { ok: true, messages: page, hasMore: upto - 2 > 0 };
    });
    await t.core.joins.connected(false);
    await t.core.joins.openDm('bob');
    const conv = t.core.state.dmConv('bob')!;
    expect(ids(conv)).to.deep.equal(['6-0', '7-0']);
    conv.resetMessages(); // as if only 1-0 and 2-0 had been seen before the connection dropped
    conv.add(all.slice(0, 2));
    await t.core.joins.openRoom('general');
    t.link.sent.length = 0;
    await t.core.joins.connected(true);
    expect(t.link.of('dm:history').map((p) => p.before)).to.deep.equal([undefined, '6-0', '4-0']);
    expect(ids(conv)).to.deep.equal(all.map((m) => m.id));
    expect(conv.unread, 'what bob wrote, not what I did').to.equal(4);
    expect(t.ui.log).to.deep.include(['unread', 'bob', 4]);
  });

  it('stops a direct-message catch-up that cannot get a page, adding nothing', async () => {
    const t = makeCore();
    t.link.answer('room:join', joinAnswers()).answer('presence:list', { ok: true, online: [] });
    t.link.answer('dm:history', { ok: true, messages: [msg('1-0', { roomId: 'dm:alice:bob', to: 'alice' })], hasMore: false });
    await t.core.joins.connected(false);
    await t.core.joins.openDm('bob');
    t.link.answer('dm:history', fail('timeout'));
    const conv = t.core.state.dmConv('bob')!;
    await t.core.catchUp.dm(conv);
    expect(ids(conv)).to.deep.equal(['1-0']);
  });
});
