import { expect } from 'chai';
import { dmConversation, parseConversation, roomConversation } from '../../src/chat/conversations.js';
import { dmHistory, sendDm } from '../../src/chat/dms.js';
import { compareMessageIds, createMessageIdGenerator, messageIdToIso } from '../../src/chat/message-ids.js';
import { history, sendMessage } from '../../src/chat/messages.js';
import { MAX_REACTION_EMOJIS } from '../../src/chat/policy.js';
import { listOnline } from '../../src/chat/presence.js';
import { normalizeReactions } from '../../src/chat/reaction-map.js';
import { toggleReaction } from '../../src/chat/reactions.js';
import { addMember, canAccess, createRoom, joinRoom, listRoomsFor, removeMember, requireRoomAccess } from '../../src/chat/rooms.js';
import type { Message, User } from '../../src/chat/types.js';
import { createMemoryChatStore } from '../../src/store/memory/chat.js';
import { createMemoryPresenceStore } from '../../src/store/memory/presence.js';
import type { ChatStore, StoredUser } from '../../src/chat/ports.js';
import { ownReactionPairs } from '../helpers/reactions.js';
import { expectAppError } from './helpers/errors.js';

/** Sends as the chat domain does and answers the stored message. */
const post = async (...args: Parameters<typeof sendMessage>): Promise<Message> => (await sendMessage(...args)).message;

const user = (username: string): StoredUser => ({
  id: `id-${username}`,
  username,
  displayName: username.toUpperCase(),
  passwordHash: 'secret-hash',
  credentialVersion: 0,
});
const alice = user('alice');
const bob = user('bob');
const carol = user('carol');
const directory = new Map([alice, bob, carol].map((u) => [u.username, u]));
const findUserByUsername = async (username: string) => directory.get(username) ?? null;

/** A RoomEviction that records what it was asked to do. */
function evictions() {
  const calls: Array<[string, string]> = [];
  return { calls, evict: async (roomId: string, userId: string) => void calls.push([roomId, userId]) };
}
const findUserById = async (id: string) => [...directory.values()].find((u) => u.id === id) ?? null;

function fixture(historyLimit = 1000) {
  return createMemoryChatStore({ historyLimit });
}

/** alice owns private `secret` with bob as a member; carol is an outsider. */
async function withPrivateRoom(chat: ChatStore) {
  await createRoom(chat, alice, { id: 'secret', private: true });
  await addMember(chat, alice, 'secret', 'bob', findUserByUsername);
}

async function sendN(chat: ChatStore, sender: User, roomId: string, n: number) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(await post(chat, sender, { roomId, text: `m${i}` }));
  return out;
}

describe('chat domain', () => {
  describe('conversations and ids', () => {
    it('names rooms and DM pairs, DM pairs in sorted order', () => {
      expect(roomConversation('general')).to.equal('room:general');
      expect(dmConversation('bob', 'alice')).to.equal('dm:alice:bob');
      expect(dmConversation('alice', 'bob')).to.equal('dm:alice:bob');
      expect(parseConversation('room:x')).to.deep.equal({ kind: 'room', roomId: 'x' });
      expect(parseConversation('dm:a_1:b_2')).to.deep.equal({ kind: 'dm', a: 'a_1', b: 'b_2' });
      expect(() => parseConversation('room:')).to.throw(TypeError);
      expect(() => parseConversation('chan:x')).to.throw(TypeError);
    });

    it('mints strictly increasing ids within a millisecond and when the clock steps back', () => {
      const clock = [1000, 1000, 1000, 999, 1001];
      const next = createMessageIdGenerator(() => clock.shift()!);
      expect([next(), next(), next(), next(), next()]).to.deep.equal(['1000-0', '1000-1', '1000-2', '1000-3', '1001-0']);
      expect(compareMessageIds('9-0', '10-0')).to.be.lessThan(0);
      expect(compareMessageIds('10-2', '10-10')).to.be.lessThan(0);
      expect(compareMessageIds('10-1', '10-1')).to.equal(0);
    });

    it("gives a message's ts from its id: the same for the ids of one millisecond, another for each other one", () => {
      const ids = ['1700000000000-0', '1700000000000-7', '1700000000001-0', '1700000000000-9', '0-0', '1700000000000-0'];
      expect(ids.map(messageIdToIso)).to.deep.equal([
        '2023-11-14T22:13:20.000Z',
        '2023-11-14T22:13:20.000Z',
        '2023-11-14T22:13:20.001Z',
        '2023-11-14T22:13:20.000Z',
        '1970-01-01T00:00:00.000Z',
        '2023-11-14T22:13:20.000Z',
      ]);
    });
  });

  describe('rooms', () => {
    it('creates a room owned by the acting user, naming it after its id by default', async () => {
      const chat = fixture();
      expect(await createRoom(chat, alice, { id: 'books' })).to.deep.equal({ id: 'books', name: 'books', private: false, owner: 'alice' });
      expect(await createRoom(chat, bob, { id: 'club', name: 'Club', private: true })).to.deep.equal({
        id: 'club',
        name: 'Club',
        private: true,
        owner: 'bob',
      });
      expect(await chat.isMember('club', 'bob')).to.equal(true);
    });

    it('answers room_exists for a taken id, `general` included', async () => {
      const chat = fixture();
      await createRoom(chat, alice, { id: 'books' });
      await expectAppError(createRoom(chat, bob, { id: 'books' }), 'room_exists');
      await expectAppError(createRoom(chat, bob, { id: 'general' }), 'room_exists');
      expect((await chat.getRoom('books'))?.owner).to.equal('alice');
    });

    it('lists public rooms to everyone and private rooms only to their owner and members, general first', async () => {
      const chat = fixture();
      await withPrivateRoom(chat);
      await createRoom(chat, carol, { id: 'a-public' });
      await createRoom(chat, carol, { id: 'z-hidden', private: true });
      const idsFor = async (u: User) => (await listRoomsFor(chat, u)).map((r) => r.id);
      expect(await idsFor(alice)).to.deep.equal(['general', 'a-public', 'secret']);
      expect(await idsFor(bob)).to.deep.equal(['general', 'a-public', 'secret']);
      expect(await idsFor(carol)).to.deep.equal(['general', 'a-public', 'z-hidden']);
    });

    it('lets anyone into public rooms; private rooms only their owner and members', async () => {
      const chat = fixture();
      await withPrivateRoom(chat);
      const secret = (await chat.getRoom('secret'))!;
      expect(await canAccess(chat, alice, secret)).to.equal(true);
      expect(await canAccess(chat, bob, secret)).to.equal(true);
      expect(await canAccess(chat, carol, secret)).to.equal(false);
      expect((await requireRoomAccess(chat, carol, 'general')).id).to.equal('general');
      await expectAppError(requireRoomAccess(chat, carol, 'secret'), 'forbidden');
      await expectAppError(requireRoomAccess(chat, carol, 'missing'), 'not_found');
    });

    it('keeps the owner in even if their membership entry is lost', async () => {
      const chat = fixture();
      await withPrivateRoom(chat);
      await chat.removeMember('secret', 'alice');
      expect((await joinRoom(chat, alice, 'secret')).room.id).to.equal('secret');
    });
  });

  describe('joinRoom', () => {
    it('returns the room and its last 50 messages, oldest first, and whether older ones remain', async () => {
      const chat = fixture();
      const sent = await sendN(chat, alice, 'general', 60);
      const { room, history: got, hasMore } = await joinRoom(chat, bob, 'general');
      expect(room.id).to.equal('general');
      expect(got.map((m) => m.id)).to.deep.equal(sent.slice(10).map((m) => m.id));
      expect(hasMore).to.equal(true);
    });

    it('with `since` returns the oldest 100 later messages and whether newer ones remain', async () => {
      const chat = fixture();
      const sent = await sendN(chat, alice, 'general', 260);
      const ids = (ms: { id: string }[]) => ms.map((m) => m.id);
      const gap = await joinRoom(chat, bob, 'general', { since: sent[9]!.id });
      expect(ids(gap.history)).to.deep.equal(ids(sent.slice(10, 110)));
      expect(gap.hasMore).to.equal(true);
      const tail = await joinRoom(chat, bob, 'general', { since: sent[159]!.id });
      expect(ids(tail.history)).to.deep.equal(ids(sent.slice(160)));
      expect(tail.hasMore).to.equal(false);
      expect(await joinRoom(chat, bob, 'general', { since: sent.at(-1)!.id })).to.deep.include({ history: [], hasMore: false });
    });

    it('refuses unknown rooms and private rooms of others', async () => {
      const chat = fixture();
      await withPrivateRoom(chat);
      await expectAppError(joinRoom(chat, alice, 'missing'), 'not_found');
      await expectAppError(joinRoom(chat, carol, 'secret'), 'forbidden');
      expect((await joinRoom(chat, bob, 'secret')).room.private).to.equal(true);
    });
  });

  describe('messages', () => {
    it('stores the acting user as a public snapshot, verbatim text and clientMsgId', async () => {
      const chat = fixture();
      const text = '  spaced <script>x</script>  ';
      const m = await post(chat, alice, { roomId: 'general', text, clientMsgId: 'abc' });
      expect(m).to.include({ roomId: 'general', text, clientMsgId: 'abc' });
      expect(m.user).to.deep.equal({ id: 'id-alice', username: 'alice', displayName: 'ALICE' }); // no password hash
      expect(JSON.stringify(await history(chat, bob, 'general'))).to.not.include('secret-hash');
      const renamed = { ...alice, displayName: 'Queen Alice' };
      await post(chat, renamed, { roomId: 'general', text: 'again' });
      const [first, second] = (await history(chat, bob, 'general')).messages;
      expect(first?.user.displayName).to.equal('ALICE'); // the name at send time stays with the message
      expect(second?.user.displayName).to.equal('Queen Alice');
      expect(second).to.not.have.property('clientMsgId');
    });

    it('refuses to send to unknown rooms and private rooms of others', async () => {
      const chat = fixture();
      await withPrivateRoom(chat);
      await expectAppError(post(chat, alice, { roomId: 'missing', text: 'x' }), 'not_found');
      await expectAppError(post(chat, carol, { roomId: 'secret', text: 'x' }), 'forbidden');
      expect(await chat.page(roomConversation('secret'), { limit: 10 })).to.deep.equal([]);
      expect((await post(chat, bob, { roomId: 'secret', text: 'ok' })).roomId).to.equal('secret');
    });

    it('pages history back with before/limit, 50 by default and at most 100, saying whether older ones remain', async () => {
      const chat = fixture();
      const sent = await sendN(chat, alice, 'general', 150);
      const ids = (ms: { id: string }[]) => ms.map((m) => m.id);
      const page = (req: { before?: string; limit?: number } = {}) => history(chat, bob, 'general', req);
      expect(ids((await page()).messages)).to.deep.equal(ids(sent.slice(100)));
      expect(ids((await page({ limit: 1000 })).messages)).to.deep.equal(ids(sent.slice(50)));
      const back = await page({ before: sent[20]!.id, limit: 5 });
      expect(ids(back.messages)).to.deep.equal(ids(sent.slice(15, 20)));
      expect(back.hasMore).to.equal(true);
      expect(await page({ before: sent[20]!.id, limit: 20 })).to.deep.include({ hasMore: false });
    });

    it('pages history forward with after, alone or below before, saying whether more remain that way', async () => {
      const chat = fixture();
      const sent = await sendN(chat, alice, 'general', 150);
      const page = (req: { before?: string; after?: string; limit?: number }) =>
        history(chat, bob, 'general', req).then((p) => ({ texts: p.messages.map((m) => m.text), hasMore: p.hasMore }));
      const texts = (from: number, to: number) => sent.slice(from, to).map((m) => m.text);
      expect(await page({ after: sent[9]!.id, limit: 3 })).to.deep.equal({ texts: texts(10, 13), hasMore: true });
      expect(await page({ after: sent[9]!.id, limit: 1000 })).to.deep.equal({ texts: texts(10, 110), hasMore: true });
      expect(await page({ after: sent[49]!.id, limit: 100 })).to.deep.equal({ texts: texts(50, 150), hasMore: false });
      expect(await page({ after: sent[9]!.id, before: sent[15]!.id, limit: 3 })).to.deep.equal({ texts: texts(10, 13), hasMore: true });
      expect(await page({ after: sent[9]!.id, before: sent[15]!.id, limit: 5 })).to.deep.equal({ texts: texts(10, 15), hasMore: false });
    });

    it('refuses history of private rooms to outsiders, and after removal', async () => {
      const chat = fixture();
      await withPrivateRoom(chat);
      await post(chat, bob, { roomId: 'secret', text: 'inside' });
      await expectAppError(history(chat, carol, 'secret'), 'forbidden');
      await expectAppError(history(chat, carol, 'missing'), 'not_found');
      expect((await history(chat, bob, 'secret')).messages.map((m) => m.text)).to.deep.equal(['inside']);
      await removeMember(chat, alice, 'secret', 'bob', findUserByUsername, evictions());
      await expectAppError(history(chat, bob, 'secret'), 'forbidden');
    });
  });

  describe('members', () => {
    it('lets the owner add and remove members, granting and revoking access', async () => {
      const chat = fixture();
      await createRoom(chat, alice, { id: 'secret', private: true });
      await expectAppError(joinRoom(chat, carol, 'secret'), 'forbidden');
      await addMember(chat, alice, 'secret', 'carol', findUserByUsername);
      expect((await joinRoom(chat, carol, 'secret')).room.id).to.equal('secret');
      const evicted = evictions();
      await removeMember(chat, alice, 'secret', 'carol', findUserByUsername, evicted);
      await expectAppError(joinRoom(chat, carol, 'secret'), 'forbidden');
      await removeMember(chat, alice, 'secret', 'carol', findUserByUsername, evicted); // idempotent
      // Each removal takes the member's sockets out of the room, by their user id (a repeat is harmless).
      expect(evicted.calls).to.deep.equal([['secret', carol.id], ['secret', carol.id]]);
    });

    it('evicts nobody when the removal is refused', async () => {
      const chat = fixture();
      await withPrivateRoom(chat);
      const evicted = evictions();
      await expectAppError(removeMember(chat, bob, 'secret', 'bob', findUserByUsername, evicted), 'forbidden');
      await expectAppError(removeMember(chat, alice, 'secret', 'alice', findUserByUsername, evicted), 'bad_request');
      await expectAppError(removeMember(chat, alice, 'secret', 'nobody', findUserByUsername, evicted), 'not_found');
      expect(evicted.calls).to.deep.equal([]);
    });

    it('refuses everyone but the owner, and nobody owns general', async () => {
      const chat = fixture();
      await withPrivateRoom(chat);
      await expectAppError(addMember(chat, bob, 'secret', 'carol', findUserByUsername), 'forbidden');
      await expectAppError(addMember(chat, carol, 'secret', 'carol', findUserByUsername), 'forbidden');
      await expectAppError(removeMember(chat, bob, 'secret', 'bob', findUserByUsername, evictions()), 'forbidden');
      await expectAppError(addMember(chat, alice, 'general', 'carol', findUserByUsername), 'forbidden');
      expect(await chat.isMember('secret', 'carol')).to.equal(false);
      expect(await chat.isMember('secret', 'bob')).to.equal(true);
    });

    it('answers not_found for unknown rooms and unknown users', async () => {
      const chat = fixture();
      await withPrivateRoom(chat);
      await expectAppError(addMember(chat, alice, 'missing', 'bob', findUserByUsername), 'not_found');
      await expectAppError(addMember(chat, alice, 'secret', 'nobody', findUserByUsername), 'not_found');
      await expectAppError(removeMember(chat, alice, 'secret', 'nobody', findUserByUsername, evictions()), 'not_found');
      expect(await chat.isMember('secret', 'nobody')).to.equal(false);
    });

    it('does not let the owner be removed', async () => {
      const chat = fixture();
      await withPrivateRoom(chat);
      await expectAppError(removeMember(chat, alice, 'secret', 'alice', findUserByUsername, evictions()), 'bad_request');
      expect(await chat.isMember('secret', 'alice')).to.equal(true);
    });
  });

  describe('direct messages', () => {
    it('stores a DM in the sorted pair conversation, visible to both participants', async () => {
      const chat = fixture();
      const m = await sendDm(chat, bob, { to: 'alice', text: 'hi alice', clientMsgId: 'k1' }, findUserByUsername);
      expect(m).to.include({ roomId: 'dm:alice:bob', to: 'alice', text: 'hi alice', clientMsgId: 'k1' });
      expect(m.user).to.deep.equal({ id: 'id-bob', username: 'bob', displayName: 'BOB' });
      const reply = await sendDm(chat, alice, { to: 'bob', text: 'hi bob' }, findUserByUsername);
      expect(reply.roomId).to.equal('dm:alice:bob');
      const fromAlice = await dmHistory(chat, alice, 'bob', {}, findUserByUsername);
      const fromBob = await dmHistory(chat, bob, 'alice', {}, findUserByUsername);
      expect(fromAlice.messages.map((x) => x.text)).to.deep.equal(['hi alice', 'hi bob']);
      expect(fromBob).to.deep.equal(fromAlice);
    });

    it('keeps a third user out: they can only ever name their own pairs', async () => {
      const chat = fixture();
      await sendDm(chat, bob, { to: 'alice', text: 'private' }, findUserByUsername);
      expect(await dmHistory(chat, carol, 'alice', {}, findUserByUsername)).to.deep.equal({ messages: [], hasMore: false });
      expect(await dmHistory(chat, carol, 'bob', {}, findUserByUsername)).to.deep.equal({ messages: [], hasMore: false });
    });

    it('answers not_found for an unknown recipient or partner, storing nothing', async () => {
      const chat = fixture();
      await expectAppError(sendDm(chat, alice, { to: 'nobody', text: 'x' }, findUserByUsername), 'not_found');
      await expectAppError(dmHistory(chat, alice, 'nobody', {}, findUserByUsername), 'not_found');
      expect(await chat.page(dmConversation('alice', 'nobody'), { limit: 10 })).to.deep.equal([]);
    });

    it('allows a note to self, in a conversation only that user can read', async () => {
      const chat = fixture();
      const m = await sendDm(chat, alice, { to: 'alice', text: 'remember milk' }, findUserByUsername);
      expect(m.roomId).to.equal('dm:alice:alice');
      expect((await dmHistory(chat, alice, 'alice', {}, findUserByUsername)).messages.map((x) => x.id)).to.deep.equal([m.id]);
    });

    it('pages DM history with before/limit, saying whether older ones remain', async () => {
      const chat = fixture();
      const sent = [];
      for (let i = 0; i < 8; i++) sent.push(await sendDm(chat, alice, { to: 'bob', text: `d${i}` }, findUserByUsername));
      const page = await dmHistory(chat, bob, 'alice', { before: sent[5]!.id, limit: 2 }, findUserByUsername);
      expect(page.messages.map((m) => m.text)).to.deep.equal(['d3', 'd4']);
      expect(page.hasMore).to.equal(true);
      expect((await dmHistory(chat, bob, 'alice', { before: sent[2]!.id, limit: 2 }, findUserByUsername)).hasMore).to.equal(false);
    });
  });

  describe('reactions', () => {
    it('toggles on a room message and answers the whole map', async () => {
      const chat = fixture();
      const m = await post(chat, alice, { roomId: 'general', text: 'react to me' });
      expect(await toggleReaction(chat, bob, { roomId: 'general', messageId: m.id, emoji: '👍' })).to.deep.equal({ '👍': ['bob'] });
      expect(await toggleReaction(chat, alice, { roomId: 'general', messageId: m.id, emoji: '👍' })).to.deep.equal({
        '👍': ['alice', 'bob'],
      });
      expect(await toggleReaction(chat, bob, { roomId: 'general', messageId: m.id, emoji: '👍' })).to.deep.equal({ '👍': ['alice'] });
    });

    it('refuses outsiders of private rooms, unknown rooms and unknown messages', async () => {
      const chat = fixture();
      await withPrivateRoom(chat);
      const m = await post(chat, bob, { roomId: 'secret', text: 'x' });
      const general = await post(chat, bob, { roomId: 'general', text: 'y' });
      await expectAppError(toggleReaction(chat, carol, { roomId: 'secret', messageId: m.id, emoji: '👍' }), 'forbidden');
      await expectAppError(toggleReaction(chat, carol, { roomId: 'missing', messageId: m.id, emoji: '👍' }), 'not_found');
      await expectAppError(toggleReaction(chat, bob, { roomId: 'secret', messageId: '1-0', emoji: '👍' }), 'not_found');
      // A message id from another room does not exist in this one.
      await expectAppError(toggleReaction(chat, bob, { roomId: 'secret', messageId: general.id, emoji: '👍' }), 'not_found');
    });

    it('normalizes a map to own keys in code-point order, users sorted and deduplicated, empty emojis dropped', () => {
      const source: Record<string, Iterable<string>> = Object.fromEntries([
        ['👍', new Set(['bob', 'alice'])],
        ['__proto__', ['carol', 'alice', 'carol']],
        ['constructor', []],
        ['valueOf', ['bob']],
        ['toString', ['alice']],
        ['hasOwnProperty', ['dave']],
      ]);
      const out = normalizeReactions(source);
      expect(ownReactionPairs(out)).to.deep.equal([
        ['__proto__', ['alice', 'carol']],
        ['hasOwnProperty', ['dave']],
        ['toString', ['alice']],
        ['valueOf', ['bob']],
        ['👍', ['alice', 'bob']],
      ]);
      // Nothing is inherited either: a lookup of an emoji nobody used finds nothing.
      expect(out.constructor).to.equal(undefined);
      expect(JSON.parse(JSON.stringify(out))).to.deep.equal(Object.fromEntries(ownReactionPairs(out)));
    });

    it(`caps a message at ${MAX_REACTION_EMOJIS} distinct emojis with bad_request`, async () => {
      const chat = fixture();
      const m = await post(chat, alice, { roomId: 'general', text: 'x' });
      const toggle = (emoji: string) => toggleReaction(chat, bob, { roomId: 'general', messageId: m.id, emoji });
      for (let i = 0; i < MAX_REACTION_EMOJIS; i++) await toggle(`e${i}`);
      await expectAppError(toggle('one-too-many'), 'bad_request');
      expect(Object.keys(await toggle('e0'))).to.have.length(MAX_REACTION_EMOJIS - 1);
    });
  });

  describe('presence', () => {
    it('lists online users as public users, sorted, skipping ids without a user', async () => {
      const presence = createMemoryPresenceStore();
      await presence.connect('id-carol', 's1');
      await presence.connect('id-alice', 's2');
      await presence.connect('id-alice', 's3');
      await presence.connect('id-deleted', 's4');
      expect(await listOnline(presence, findUserById)).to.deep.equal([
        { id: 'id-alice', username: 'alice', displayName: 'ALICE' },
        { id: 'id-carol', username: 'carol', displayName: 'CAROL' },
      ]);
    });
  });
});
