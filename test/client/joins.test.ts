import { expect } from 'chai';
import { fail, joinAnswers, makeCore, msg, settle } from './fakes.js';

/** A core connected and showing `general`. */
async function live() {
  const t = makeCore();
  t.link.answer('room:join', joinAnswers()).answer('presence:list', { ok: true, online: [] });
  await t.core.joins.connected(false);
  t.link.sent.length = 0;
  return t;
}

describe('client core: join sequencing', () => {
  it('on the first connection joins the page\'s room and shows it', async () => {
    const { core, link, ui } = makeCore({ initialRoom: 'lobby' });
    link.answer('room:join', joinAnswers({ lobby: [msg('1-0', { roomId: 'lobby' })] })).answer('presence:list', { ok: true, online: [] });
    expect(core.state.catchingUp).to.equal(true);
    await core.joins.connected(false);
    expect(link.of('room:join')).to.deep.equal([{ roomId: 'lobby' }]);
    expect(ui.active?.key).to.equal('room:lobby');
    expect(core.state.joinedRoom).to.equal('lobby');
    expect(ui.joinedRoom).to.equal('lobby');
    expect(core.state.catchingUp).to.equal(false);
  });

  it('remembers a room picked before the connection is ready and opens it once caught up', async () => {
    const { core, link, ui } = makeCore();
    link.answer('room:join', joinAnswers()).answer('presence:list', { ok: true, online: [] });
    await core.joins.openRoom('random');
    expect(link.sent, 'nothing sent yet').to.deep.equal([]);
    expect(ui.log).to.deep.include(['pick', 'random']);
    await core.joins.connected(false);
    expect(link.of('room:join')).to.deep.equal([{ roomId: 'random' }]);
    expect(ui.active?.key).to.equal('room:random');
  });

  it('a room picked during the catch-up is opened after it', async () => {
    const { core, link, ui } = makeCore();
    link.answer('room:join', joinAnswers()).answer('presence:list', { ok: true, online: [] }).hold('room:join');
    const connecting = core.joins.connected(false);
    await settle();
    await core.joins.openRoom('random');
    expect(link.waiting('room:join')).to.deep.equal([{ roomId: 'general' }]);
    await link.release('room:join');
    expect(link.waiting('room:join'), 'once caught up').to.deep.equal([{ roomId: 'random' }]);
    await link.release('room:join');
    await connecting;
    expect(link.of('room:join').map((p) => p.roomId)).to.deep.equal(['general', 'random']);
    expect(link.of('room:leave')).to.deep.equal([{ roomId: 'general' }]);
    expect(ui.active?.key).to.equal('room:random');
    expect(core.state.joinedRoom).to.equal('random');
  });

  it('runs joins one after another, and shows the room asked for last', async () => {
    const { core, link, ui } = await live();
    link.hold('room:join');
    const a = core.joins.openRoom('a');
    const b = core.joins.openRoom('b');
    await settle();
    expect(link.waiting('room:join'), 'b waits for a').to.deep.equal([{ roomId: 'a' }]);
    await link.release('room:join');
    expect(ui.active?.key, 'a is not shown: b was asked for since').to.equal('room:general');
    expect(link.waiting('room:join')).to.deep.equal([{ roomId: 'b' }]);
    await link.release('room:join');
    await Promise.all([a, b]);
    expect(ui.shown.map((c) => c.key)).to.deep.equal(['room:general', 'room:b']);
    expect(link.of('room:leave')).to.deep.equal([{ roomId: 'general' }, { roomId: 'a' }]);
    expect(core.state.joinedRoom).to.equal('b');
  });

  it('ignores the failure of a join that is no longer the one asked for', async () => {
    const { core, link, ui } = await live();
    link.hold('room:join');
    const a = core.joins.openRoom('a');
    const b = core.joins.openRoom('b');
    await settle();
    await link.release('room:join', fail('forbidden'));
    await link.release('room:join');
    await Promise.all([a, b]);
    expect(ui.notices).to.deep.equal([]);
    expect(ui.active?.key).to.equal('room:b');
  });

  it('tells why a room could not be opened and stays where it was', async () => {
    const { core, link, ui } = await live();
    link.answer('room:join', fail('forbidden'));
    await core.joins.openRoom('secret');
    expect(ui.notices).to.deep.equal(['Could not open #secret: you are not allowed here.']);
    expect(ui.active?.key).to.equal('room:general');
    expect(core.state.joinedRoom).to.equal('general');
    expect(link.of('room:leave')).to.deep.equal([]);
  });

  it('shows a room already joined again without joining it again', async () => {
    const { core, link, ui } = await live();
    link.answer('dm:history', { ok: true, messages: [], hasMore: false });
    await core.joins.openDm('bob');
    await core.joins.openRoom('general');
    expect(link.of('room:join')).to.deep.equal([]);
    expect(ui.shown.map((c) => c.key)).to.deep.equal(['room:general', 'dm:bob', 'room:general']);
  });

  it('on reconnecting to a room no longer open to me, says so and falls back to general', async () => {
    const { core, link, ui } = await live();
    link.answer('room:join', joinAnswers({ secret: [msg('1-0', { roomId: 'secret' })] }));
    await core.joins.openRoom('secret');
    link.sent.length = 0;
    link.answer('room:join', (p: { roomId: string }) => (p.roomId === 'secret' ? fail('forbidden') : joinAnswers()(p)));
    await core.joins.connected(true);
    expect(link.of('room:join')).to.deep.equal([{ roomId: 'secret', since: '1-0' }, { roomId: 'general' }]);
    expect(link.of('room:leave'), 'a new socket is in no room to leave').to.deep.equal([]);
    expect(ui.notices).to.deep.equal(['You can no longer open #Room secret.']);
    expect(core.state.roomConv('secret')).to.equal(undefined);
    expect(ui.active?.key).to.equal('room:general');
    expect(core.state.joinedRoom).to.equal('general');
  });

  it('after being removed from the room shown, forgets it, says so, refreshes the room list and opens general', async () => {
    const { core, link, ui, api } = await live();
    await core.joins.openRoom('club');
    const calls = api.calls;
    core.joins.removed('club');
    await settle();
    expect(ui.notices).to.deep.equal(['You were removed from #Room club.']);
    expect(core.state.roomConv('club')).to.equal(undefined);
    expect(api.calls).to.equal(calls + 1);
    expect(ui.active?.key).to.equal('room:general');
    expect(link.of('room:join').map((p) => p.roomId)).to.deep.equal(['club', 'general']);
    expect(ui.joinedRoom).to.equal('general');
  });

  it('names a direct-message conversation by the name given, else who is online, else the list of conversations', async () => {
    const { core, link, ui } = await live();
    link.answer('dm:history', { ok: true, messages: [], hasMore: false });
    core.directory.presence({ id: 'u1', username: 'carol', displayName: 'Carol C' }, true);
    ui.dmNames.set('dave', 'Dave D');
    await core.joins.openDm('carol');
    await core.joins.openDm('dave');
    await core.joins.openDm('erin');
    await core.joins.openDm('frank', 'Frank F');
    expect(ui.shown.slice(1).map((c) => c.title)).to.deep.equal(['Carol C', 'Dave D', 'erin', 'Frank F']);
    expect([...ui.dmNames]).to.deep.include.members([['carol', 'Carol C'], ['erin', 'erin'], ['frank', 'Frank F']]);
  });

  it('once the session ended opens nothing', async () => {
    const { core, link, ui } = await live();
    link.ended = true;
    await core.joins.openRoom('a');
    await core.joins.openDm('bob');
    expect(link.sent).to.deep.equal([]);
    expect(ui.shown.map((c) => c.key)).to.deep.equal(['room:general']);
  });
});
