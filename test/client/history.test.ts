import { expect } from 'chai';
import { PAGE } from '../../public/js/chat/core/history.js';
import type { Message } from '../../public/js/chat/types.js';
import { type Ack, fail, ids, joinAnswers, makeCore, msg, range } from './fakes.js';

/** `message:history {before}` over a room's stored history. */
const historyBefore =
  (all: Message[]) =>
  ({ before, limit }: { before?: string; limit: number }): Ack => {
    const upto = before ? all.findIndex((m) => m.id === before) : all.length;
    return { ok: true, messages: all.slice(Math.max(0, upto - limit), upto), hasMore: upto > limit };
  };

/** A core showing `general`, which holds `stored` and answered the join with the newest page. */
async function showing(stored: Message[]) {
  const t = makeCore();
  t.link
    .answer('room:join', joinAnswers({ general: stored.slice(-PAGE) }, { general: stored.length > PAGE }))
    .answer('presence:list', { ok: true, online: [] })
    .answer('message:history', historyBefore(stored));
  await t.core.joins.connected(false);
  return { ...t, general: t.core.state.roomConv('general')! };
}

describe('client core: history', () => {
  it('loads older pages back from the first message shown until the beginning', async () => {
    const stored = range(1, 120);
    const { core, link, general } = await showing(stored);
    await core.history.loadOlder(general);
    await core.history.loadOlder(general);
    await core.history.loadOlder(general);
    expect(link.of('message:history')).to.deep.equal([
      { roomId: 'general', limit: PAGE, before: '71-0' },
      { roomId: 'general', limit: PAGE, before: '21-0' },
    ]);
    expect(ids(general)).to.deep.equal(stored.map((m) => m.id));
    expect(general.hasOlder).to.equal(false);
  });

  it('keeps loading older pages while the list does not fill the screen', async () => {
    const stored = range(1, 200);
    const t = makeCore();
    t.ui.isUnderfilled = true;
    t.link
      .answer('room:join', joinAnswers({ general: stored.slice(-PAGE) }, { general: true }))
      .answer('presence:list', { ok: true, online: [] })
      .answer('message:history', historyBefore(stored));
    await t.core.joins.connected(false);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(ids(t.core.state.roomConv('general'))).to.have.length(200);
    expect(t.link.of('message:history')).to.have.length(3);
  });

  it('says why older messages could not be had (not when offline), and can ask again', async () => {
    const { core, link, ui, general } = await showing(range(1, 60));
    link.answer('message:history', fail('timeout'));
    await core.history.loadOlder(general);
    link.answer('message:history', fail('offline'));
    await core.history.loadOlder(general);
    expect(ui.notices).to.deep.equal(['Could not load older messages: the server did not answer.']);
    expect([general.loadingOlder, general.hasOlder]).to.deep.equal([false, true]);
    expect(ui.log.filter((l) => l[0] === 'edge')).to.have.length(4);
  });

  it('loads the first page of a direct-message conversation, or says there is no such user', async () => {
    const { core, link, ui } = await showing([]);
    link.answer('dm:history', (p: { with: string }) =>
      p.with === 'bob' ? { ok: true, messages: [msg('1-0', { roomId: 'dm:alice:bob', to: 'alice' })], hasMore: false } : fail('not_found'),
    );
    await core.joins.openDm('bob');
    await core.joins.openDm('nobody');
    const bob = core.state.dmConv('bob')!;
    expect([ids(bob), bob.loaded, bob.hasOlder]).to.deep.equal([['1-0'], true, false]);
    expect(core.state.dmConv('nobody')?.loaded).to.equal(false);
    expect(ui.notices).to.deep.equal(['There is no user @nobody.']);
  });
});
