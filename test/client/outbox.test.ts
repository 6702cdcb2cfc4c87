import { expect } from 'chai';
import { fail, joinAnswers, makeCore, msg, settle } from './fakes.js';

/** A core connected to `general` (joined and caught up), its link answering sends with the stored message. */
async function connected() {
  const t = makeCore();
  t.link
    .answer('room:join', joinAnswers())
    .answer('presence:list', { ok: true, online: [] })
    .answer('message:send', (p: { clientMsgId: string; text: string }) => ({ ok: true, message: msg(`${100 + t.link.of('message:send').length}-0`, { from: 'alice', clientMsgId: p.clientMsgId, text: p.text }) }));
  await t.core.joins.connected(false);
  return { ...t, general: t.core.state.roomConv('general')! };
}

describe('client core: outbox', () => {
  it('shows a message at once as pending and replaces it with the stored one when the server acknowledges it', async () => {
    const { core, link, general } = await connected();
    link.hold('message:send');
    expect(core.outbox.send('hello')).to.equal(true);
    expect(general.pending.map((p) => [p.text, p.status, p.clientMsgId])).to.deep.equal([['hello', 'sending', 'c1']]);
    expect(link.waiting('message:send')).to.deep.equal([{ roomId: 'general', text: 'hello', clientMsgId: 'c1' }]);
    await link.release('message:send');
    expect(general.pending).to.deep.equal([]);
    expect(general.messages.map((m) => [m.text, m.clientMsgId])).to.deep.equal([['hello', 'c1']]);
  });

  it('sends one message at a time, in the order typed', async () => {
    const { core, link, general } = await connected();
    link.hold('message:send');
    core.outbox.send('one');
    core.outbox.send('two');
    core.outbox.send('three');
    await settle();
    expect(link.waiting('message:send').map((p) => p.text)).to.deep.equal(['one']);
    await link.release('message:send');
    expect(link.waiting('message:send').map((p) => p.text)).to.deep.equal(['two']);
    await link.release('message:send');
    await link.release('message:send');
    expect(general.messages.map((m) => m.text)).to.deep.equal(['one', 'two', 'three']);
    expect(general.pending).to.deep.equal([]);
  });

  it('holds messages while catching up, and sends them once the catch-up is done', async () => {
    const { core, link, general } = await connected();
    core.state.catchingUp = true;
    core.outbox.send('later');
    await settle();
    expect(link.of('message:send')).to.deep.equal([]);
    expect(general.pending[0]?.status).to.equal('waiting');
    link.hold('room:join');
    const reconnect = core.joins.connected(true);
    await settle();
    expect(link.of('message:send'), 'nothing before the room is joined again').to.deep.equal([]);
    await link.release('room:join');
    await reconnect;
    await settle();
    expect(link.of('message:send').map((p) => p.text)).to.deep.equal(['later']);
    expect(general.messages.map((m) => m.text)).to.deep.equal(['later']);
  });

  it('keeps a message waiting when the connection is gone (or went while it was sent), and marks it failed (with the reason) when the server refuses it', async () => {
    const { core, link, general } = await connected();
    link.connected = false;
    core.outbox.send('no connection');
    await settle();
    expect(general.pending.map((p) => p.status)).to.deep.equal(['waiting']);
    expect(link.of('message:send')).to.deep.equal([]);
    link.connected = true;
    link.hold('message:send');
    core.outbox.retry(general, 'c1');
    await settle();
    link.connected = false;
    await link.release('message:send', fail('timeout'));
    expect(general.pending.map((p) => [p.status, p.error])).to.deep.equal([['waiting', undefined]]);
    link.connected = true;
    core.outbox.retry(general, 'c1');
    await settle();
    await link.release('message:send', fail('timeout'));
    expect(general.pending.map((p) => [p.status, p.error]), 'no answer while connected').to.deep.equal([['failed', 'the server did not answer']]);
    core.outbox.retry(general, 'c1');
    await settle();
    await link.release('message:send', fail('rate_limited', 'slow down'));
    expect(general.pending.map((p) => [p.status, p.error])).to.deep.equal([['failed', 'you are sending too fast; wait a moment']]);
  });

  it('a failed message is sent again on retry, and is gone on discard', async () => {
    const { core, link, general } = await connected();
    link.answer('message:send', fail('bad_request', 'too long'));
    core.outbox.send('first');
    core.outbox.send('second');
    await settle();
    expect(general.pending.map((p) => [p.text, p.status, p.error])).to.deep.equal([
      ['first', 'failed', 'too long'],
      ['second', 'failed', 'too long'],
    ]);
    link.answer('message:send', (p: { clientMsgId: string; text: string }) => ({ ok: true, message: msg('200-0', { from: 'alice', ...p }) }));
    core.outbox.retry(general, 'c1');
    core.outbox.discard(general, 'c2');
    await settle();
    expect(general.messages.map((m) => m.text)).to.deep.equal(['first']);
    expect(general.pending).to.deep.equal([]);
    expect(link.of('message:send').map((p) => p.text)).to.deep.equal(['first', 'second', 'first']);
  });

  it('after the connection drops mid-send, ignores the late answer to that send and sends again', async () => {
    const { core, link, general } = await connected();
    link.hold('message:send');
    core.outbox.send('in flight');
    await settle();
    link.connected = false;
    core.outbox.connectionLost();
    expect(general.pending.map((p) => [p.status, p.attempt])).to.deep.equal([['waiting', 2]]);
    link.connected = true;
    await core.joins.connected(true);
    // The first send's answer comes only now (a timeout): it is not the fate of the message, which is sent again.
    await link.release('message:send', fail('timeout'));
    expect(link.waiting('message:send').map((p) => [p.text, p.clientMsgId])).to.deep.equal([['in flight', 'c1']]);
    expect(general.pending.map((p) => [p.status, p.attempt])).to.deep.equal([['sending', 3]]);
    await link.release('message:send');
    expect(general.pending).to.deep.equal([]);
    expect(general.messages.map((m) => [m.text, m.clientMsgId])).to.deep.equal([['in flight', 'c1']]);
  });

  it('does not send again what the catch-up shows arrived (matched by clientMsgId)', async () => {
    const { core, link, general } = await connected();
    general.add([msg('10-0')]);
    link.hold('message:send');
    core.outbox.send('made it');
    await settle();
    link.connected = false;
    core.outbox.connectionLost();
    link.connected = true;
    link.answer('room:join', joinAnswers({ general: [msg('11-0', { from: 'alice', clientMsgId: 'c1', text: 'made it' })] }));
    await core.joins.connected(true);
    await settle();
    expect(link.of('message:send')).to.have.length(1);
    expect(general.pending).to.deep.equal([]);
    expect(general.messages.map((m) => m.text)).to.deep.equal(['text 10-0', 'made it']);
  });

  it('sends direct messages with dm:send, without a room to join', async () => {
    const { core, link } = await connected();
    link.answer('dm:history', { ok: true, messages: [], hasMore: false });
    link.answer('dm:send', (p: { to: string; clientMsgId: string; text: string }) => ({ ok: true, message: msg('300-0', { from: 'alice', roomId: 'dm:alice:bob', ...p }) }));
    await core.joins.openDm('bob');
    core.outbox.send('hi bob');
    await settle();
    expect(link.of('dm:send')).to.deep.equal([{ to: 'bob', text: 'hi bob', clientMsgId: 'c1' }]);
    expect(link.of('message:send')).to.deep.equal([]);
    expect(core.state.dmConv('bob')?.messages.map((m) => m.text)).to.deep.equal(['hi bob']);
  });

  it('refuses to queue without a conversation shown, or once the session ended', async () => {
    const { core, link } = makeCore();
    expect(core.outbox.send('nowhere')).to.equal(false);
    const t = await connected();
    t.link.ended = true;
    expect(t.core.outbox.send('too late')).to.equal(false);
    expect(t.general.pending).to.deep.equal([]);
    expect(link.sent).to.deep.equal([]);
  });
});
