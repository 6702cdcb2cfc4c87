import { expect } from 'chai';
import { Conversation } from '../../public/js/chat/core/conversation.js';
import { RoomDirectory } from '../../public/js/chat/core/state.js';
import { fail, ids, joinAnswers, makeCore, msg, room, settle } from './fakes.js';

describe('client core: state', () => {
  describe('a conversation', () => {
    it('keeps messages sorted by id (numerically) and once each, whatever order they come in', () => {
      const conv = new Conversation('room', 'general', 'General');
      expect(conv.add([msg('9-0'), msg('10-0')]).map((m) => m.id)).to.deep.equal(['9-0', '10-0']);
      const added = conv.add([msg('10-1'), msg('2-0'), msg('9-0'), msg('10-0'), msg('9-5')]);
      expect(added.map((m) => m.id)).to.deep.equal(['10-1', '2-0', '9-5']);
      expect(ids(conv)).to.deep.equal(['2-0', '9-0', '9-5', '10-0', '10-1']);
      expect([conv.firstId, conv.lastId]).to.deep.equal(['2-0', '10-1']);
    });

    it('replaces a pending message by the stored one with its clientMsgId, even one it already has', () => {
      const conv = new Conversation('room', 'general', 'General');
      const pending = (clientMsgId: string) => ({ clientMsgId, text: 'x', ts: '', status: 'sending' as const, attempt: 1 });
      conv.pending.push(pending('a'), pending('b'));
      conv.add([msg('1-0', { clientMsgId: 'a' })]);
      conv.add([msg('1-0', { clientMsgId: 'b' })]);
      expect(conv.pending).to.deep.equal([]);
      expect(ids(conv)).to.deep.equal(['1-0']);
    });

    it('keeps the reactions a history page brings, and forgets everything but pending messages on reset', () => {
      const conv = new Conversation('room', 'general', 'General');
      conv.add([{ ...msg('1-0'), reactions: { '👍': ['bob'] } }]);
      expect(conv.reactions.get('1-0')).to.deep.equal({ '👍': ['bob'] });
      conv.pending.push({ clientMsgId: 'a', text: 'x', ts: '', status: 'waiting', attempt: 0 });
      conv.hasOlder = false;
      conv.resetMessages();
      expect([ids(conv), conv.reactions.size, conv.hasOlder, conv.pending.length]).to.deep.equal([[], 0, true, 1]);
      expect(conv.add([msg('1-0')]), 'a forgotten message is new again').to.have.length(1);
    });
  });

  describe('the room directory', () => {
    it('is unknown until the server lists the rooms, then tells whether a new list differs', () => {
      const dir = new RoomDirectory();
      expect([dir.loaded, dir.get('general'), dir.list()]).to.deep.equal([false, undefined, []]);
      expect(dir.set([room('general')]), 'the first list').to.equal(true);
      expect(dir.loaded).to.equal(true);
      expect(dir.set([room('general')])).to.equal(false);
      expect(dir.set([room('general', { private: true })])).to.equal(true);
      expect(dir.set([room('general', { private: true, owner: 'bob' })])).to.equal(true);
      expect(dir.set([room('general', { private: true, owner: 'bob', name: 'G' })])).to.equal(true);
      expect(dir.set([room('general', { private: true, owner: 'bob', name: 'G' }), room('b')])).to.equal(true);
    });

    it('adds a room with general first and the rest by id', () => {
      const dir = new RoomDirectory();
      dir.set([room('m'), room('general'), room('c')]);
      expect(dir.with(room('d')).map((r) => r.id)).to.deep.equal(['general', 'c', 'd', 'm']);
      expect(dir.with(room('c', { name: 'New C' })).filter((r) => r.id === 'c')).to.deep.equal([room('c', { name: 'New C' })]);
    });

    it('takes the private flag and owner from the API, and shows the list only when it changed', async () => {
      const { core, api, ui } = makeCore();
      api.rooms = [room('general'), room('club', { private: true, owner: 'alice' })];
      expect(await core.directory.refreshRooms()).to.equal(true);
      await core.directory.refreshRooms();
      expect(ui.roomLists.map((l) => l.changed)).to.deep.equal([true, false]);
      expect(core.state.rooms.get('club')).to.deep.equal({ id: 'club', name: 'Room club', private: true, owner: 'alice' });
    });

    it('asks the API for the list when a room is created before the list is known, and adds it locally after', async () => {
      const { core, api, ui } = makeCore();
      api.rooms = [room('general'), room('new')];
      core.directory.roomCreated(room('new'));
      await settle();
      expect(api.calls).to.equal(1);
      expect(ui.roomLists.at(-1)?.rooms.map((r) => r.id)).to.deep.equal(['general', 'new']);
      core.directory.roomCreated(room('another', { private: true, owner: 'alice' }));
      expect(api.calls).to.equal(1);
      expect(ui.roomLists.at(-1)).to.deep.equal({ rooms: [room('general'), room('another', { private: true, owner: 'alice' }), room('new')], changed: true });
    });
  });

  describe('who is online', () => {
    it('is reset by presence:list on connecting and follows presence events', async () => {
      const { core, link, ui } = makeCore();
      const bob = { id: '2', username: 'bob', displayName: 'Bob' };
      const carol = { id: '3', username: 'carol', displayName: 'Carol' };
      link.answer('presence:list', { ok: true, online: [bob] });
      await core.directory.loadPresence();
      core.directory.presence(carol, true);
      core.directory.presence(bob, false);
      expect(ui.online).to.deep.equal([carol]);
      link.answer('presence:list', fail('timeout'));
      await core.directory.loadPresence();
      expect([...core.state.online.keys()], 'kept when the list cannot be had').to.deep.equal(['carol']);
      core.directory.clearPresence();
      expect(ui.online).to.deep.equal([]);
    });
  });

  describe('incoming messages', () => {
    async function inGeneral() {
      const t = makeCore();
      t.link.answer('room:join', joinAnswers()).answer('presence:list', { ok: true, online: [] });
      await t.core.joins.connected(false);
      return t;
    }

    it('in the conversation shown: counts those of others as unseen and sticks to the bottom for my own', async () => {
      const { core, ui } = await inGeneral();
      core.roomMessage(msg('1-0'));
      core.roomMessage(msg('2-0', { from: 'alice', clientMsgId: 'x' }));
      expect(ui.unseenCount).to.equal(1);
      expect(ui.log.filter((l) => l[0] === 'update').slice(-2)).to.deep.equal([
        ['update', 'room:general', { mode: 'append', added: 1, stick: false }],
        ['update', 'room:general', { mode: 'append', added: 1, stick: true }],
      ]);
    });

    it('a direct message elsewhere starts the conversation, named by its sender, and counts as unread', async () => {
      const { core, ui } = await inGeneral();
      core.dmMessage(msg('1-0', { roomId: 'dm:alice:bob', from: 'bob', to: 'alice' }));
      core.dmMessage(msg('2-0', { roomId: 'dm:alice:bob', from: 'bob', to: 'alice' }));
      core.dmMessage(msg('3-0', { roomId: 'dm:alice:carol', from: 'alice', to: 'carol' }));
      expect(core.state.dmConv('bob')?.title).to.equal('BOB');
      expect(core.state.dmConv('bob')?.unread).to.equal(2);
      expect(core.state.dmConv('carol')?.title, 'my own message from another tab').to.equal('carol');
      expect(core.state.dmConv('carol')?.unread).to.equal(0);
      expect([...ui.dmNames]).to.deep.equal([['bob', 'BOB'], ['carol', 'carol']]);
      expect(ui.unseenCount).to.equal(0);
    });

    it('shows unread no more once the conversation is opened', async () => {
      const { core, link, ui } = await inGeneral();
      link.answer('dm:history', { ok: true, messages: [], hasMore: false });
      core.dmMessage(msg('1-0', { roomId: 'dm:alice:bob', from: 'bob', to: 'alice' }));
      await core.joins.openDm('bob');
      expect(core.state.dmConv('bob')?.unread).to.equal(0);
      expect(ui.log.filter((l) => l[0] === 'unread')).to.deep.equal([['unread', 'bob', 1], ['unread', 'bob', 0]]);
    });

    it('keeps the reaction map a reaction event or my own toggle brings', async () => {
      const { core, link, ui } = await inGeneral();
      const general = core.state.roomConv('general')!;
      core.reaction({ roomId: 'general', messageId: '1-0', reactions: { '🎉': ['bob'] } });
      core.reaction({ roomId: 'nowhere', messageId: '1-0', reactions: { '🎉': ['bob'] } });
      expect(general.reactions.get('1-0')).to.deep.equal({ '🎉': ['bob'] });
      link.answer('reaction:toggle', { ok: true, reactions: { '🎉': ['bob', 'alice'] } });
      await core.react(general, '1-0', '🎉');
      expect(general.reactions.get('1-0')).to.deep.equal({ '🎉': ['bob', 'alice'] });
      expect(ui.log.filter((l) => l[0] === 'reactions')).to.have.length(2);
      link.answer('reaction:toggle', fail('rate_limited'));
      await core.react(general, '1-0', '🎉');
      expect(ui.notices).to.deep.equal(['Could not react: you are sending too fast; wait a moment.']);
    });
  });
});
