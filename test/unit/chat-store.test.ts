import { expect } from 'chai';
import { dmConversation, roomConversation } from '../../src/chat/conversations.js';
import { compareMessageIds, messageIdToIso } from '../../src/chat/message-ids.js';
import type { Message, Reactions, Room, User } from '../../src/chat/types.js';
import { redisKeys } from '../../src/store/keys.js';
import { createMemoryChatStore } from '../../src/store/memory/chat.js';
import { createMemoryPresenceStore } from '../../src/store/memory/presence.js';
import { createRedisChatStore, MAX_POSTS_PER_CALL } from '../../src/store/redis/chat.js';
import type { TestRedisClient as RedisClient } from './helpers/redis.js';
import { createRedisPresenceStore, SPARE_MAX } from '../../src/store/redis/presence.js';
import type { ChatStore, Posted, PresenceStore } from '../../src/chat/ports.js';
import { ownReactionPairs, PROTOTYPE_NAMES, togglePairs } from '../helpers/reactions.js';
import { connectTestClient, deleteKeys, uniquePrefix } from './helpers/redis.js';
import { needs } from '../support/services.js';

/*
 * One contract, two backends. Each test opens a fresh store; `twin` is a
 * second handle on the same data, as another process would hold it (for
 * memory, the same instance: there is only one process).
 */
interface ChatOptions {
  historyLimit: number;
  maxReactionEmojis?: number;
}
interface Backend {
  name: 'memory' | 'redis';
  setup(): Promise<void>;
  teardown(): Promise<void>;
  openChat(opts: ChatOptions): { chat: ChatStore; twin: ChatStore };
  openPresence(): { a: PresenceStore; b: PresenceStore };
}

const memoryBackend: Backend = {
  name: 'memory',
  setup: async () => undefined,
  teardown: async () => undefined,
  openChat(opts) {
    const chat = createMemoryChatStore(opts);
    return { chat, twin: chat };
  },
  openPresence() {
    const presence = createMemoryPresenceStore();
    return { a: presence, b: presence };
  },
};

function redisBackend(): Backend & { clients: () => [RedisClient, RedisClient]; freshKeys: () => ReturnType<typeof redisKeys>; prefix: string } {
  const prefix = uniquePrefix();
  let first: RedisClient | undefined;
  let second: RedisClient | undefined;
  let opened = 0;
  const clients = (): [RedisClient, RedisClient] => {
    if (!first || !second) throw new Error('Redis clients are not connected');
    return [first, second];
  };
  // A sub-prefix per store keeps tests apart; all of them sit under `prefix`, which after() deletes.
  const freshKeys = () => redisKeys(`${prefix}${++opened}:`);
  return {
    name: 'redis',
    prefix,
    clients,
    freshKeys,
    async setup() {
      [first, second] = await Promise.all([connectTestClient(), connectTestClient()]);
    },
    async teardown() {
      if (first) await deleteKeys(first, prefix);
      await Promise.allSettled([first?.close(), second?.close()]);
    },
    openChat(opts) {
      const keys = freshKeys();
      const [a, b] = clients();
      return { chat: createRedisChatStore(a, keys, opts), twin: createRedisChatStore(b, keys, opts) };
    },
    openPresence() {
      const keys = freshKeys();
      const [a, b] = clients();
      return {
        a: createRedisPresenceStore(a, keys, { processId: 'proc-a' }),
        b: createRedisPresenceStore(b, keys, { processId: 'proc-b' }),
      };
    },
  };
}

const alice: User = { id: 'u-alice', username: 'alice', displayName: 'Alice' };

function draft(roomId: string, text: string, user: User = alice): Omit<Message, 'id' | 'ts'> {
  return { roomId, user, text };
}

async function appendMany(chat: ChatStore, conversation: string, count: number, label = 'm'): Promise<Message[]> {
  const out: Message[] = [];
  // Sequential on purpose: the order of the resulting ids must be the order of the calls.
  for (let i = 0; i < count; i++) out.push(await chat.append(conversation, draft('r', `${label}${i}`)));
  return out;
}

const ids = (messages: Message[]) => messages.map((m) => m.id);
const texts = (messages: Message[]) => messages.map((m) => m.text);

function chatContract(backend: Backend) {
  describe(`ChatStore contract (${backend.name})`, () => {
    needs(backend.name);
    before(() => backend.setup());
    after(() => backend.teardown());

    describe('rooms', () => {
      it('always has a public `general` without owner, and refuses to create it again', async () => {
        const { chat, twin } = backend.openChat({ historyLimit: 100 });
        expect(await chat.getRoom('general')).to.deep.equal({ id: 'general', name: 'General', private: false, owner: null });
        expect((await twin.listRooms()).map((r) => r.id)).to.include('general');
        expect(await chat.createRoom({ id: 'general', name: 'Mine', private: true, owner: 'alice' })).to.equal(false);
        expect((await chat.getRoom('general'))?.owner).to.equal(null);
      });

      it('creates a room once, makes the owner a member, and lists it', async () => {
        const { chat, twin } = backend.openChat({ historyLimit: 100 });
        const room: Room = { id: 'secret', name: 'Secret', private: true, owner: 'alice' };
        expect(await chat.createRoom(room)).to.equal(true);
        expect(await twin.createRoom({ ...room, owner: 'bob' })).to.equal(false);
        expect(await twin.getRoom('secret')).to.deep.equal(room);
        expect(await twin.isMember('secret', 'alice')).to.equal(true);
        expect(await twin.isMember('secret', 'bob')).to.equal(false);
        expect((await chat.listRooms()).map((r) => r.id).sort()).to.deep.equal(['general', 'secret']);
        expect(await chat.getRoom('nope')).to.equal(null);
      });

      it('lets exactly one of many concurrent creators of the same id win', async () => {
        const { chat, twin } = backend.openChat({ historyLimit: 100 });
        const owners = Array.from({ length: 20 }, (_, i) => `user_${i}`);
        const results = await Promise.all(
          owners.map((owner, i) => (i % 2 ? twin : chat).createRoom({ id: 'race', name: owner, private: true, owner })),
        );
        expect(results.filter(Boolean)).to.have.length(1);
        const winner = owners[results.indexOf(true)]!;
        const stored = await chat.getRoom('race');
        expect(stored?.owner).to.equal(winner);
        expect(stored?.name).to.equal(winner);
        // Only the winner was made a member: losers must not sneak in through the failed attempt.
        const memberships = await Promise.all(owners.map((o) => chat.isMember('race', o)));
        expect(owners.filter((_, i) => memberships[i])).to.deep.equal([winner]);
      });

      it('adds and removes members idempotently', async () => {
        const { chat, twin } = backend.openChat({ historyLimit: 100 });
        await chat.createRoom({ id: 'club', name: 'Club', private: true, owner: 'alice' });
        await chat.addMember('club', 'bob');
        await twin.addMember('club', 'bob');
        expect(await twin.isMember('club', 'bob')).to.equal(true);
        await twin.removeMember('club', 'bob');
        await chat.removeMember('club', 'bob');
        expect(await chat.isMember('club', 'bob')).to.equal(false);
        expect(await chat.isMember('club', 'alice')).to.equal(true);
      });
    });

    describe('messages', () => {
      it('assigns strictly increasing ids, also within one millisecond, and derives ts from the id', async () => {
        const { chat } = backend.openChat({ historyLimit: 1000 });
        const conv = roomConversation('fast');
        // Concurrent appends: many land in the same ms, which is exactly the case to prove.
        const sent = await Promise.all(Array.from({ length: 200 }, (_, i) => chat.append(conv, draft('fast', `t${i}`))));
        const stored = await chat.page(conv, { limit: 1000 });
        expect(stored).to.have.length(200);
        for (let i = 1; i < stored.length; i++) expect(compareMessageIds(stored[i - 1]!.id, stored[i]!.id)).to.be.lessThan(0);
        expect(new Set(ids(sent)).size).to.equal(200);
        const msOf = (id: string) => id.split('-')[0];
        const sameMs = stored.some((m, i) => i > 0 && msOf(m.id) === msOf(stored[i - 1]!.id));
        expect(sameMs, 'expected at least two ids in the same millisecond').to.equal(true);
        for (const m of stored) {
          expect(m.id).to.match(/^\d{1,16}-\d{1,10}$/);
          expect(m.ts).to.equal(messageIdToIso(m.id));
          expect(m.ts).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        }
        expect(Math.abs(Date.parse(stored[0]!.ts) - Date.now())).to.be.lessThan(60_000);
      });

      it('stores text verbatim with the user snapshot, clientMsgId and `to`, and reads them back', async () => {
        const { chat, twin } = backend.openChat({ historyLimit: 100 });
        const text = '  <b>hi</b> & "quotes" 🎉\nline two  ';
        const a = await chat.append(roomConversation('lobby'), { roomId: 'lobby', user: alice, text, clientMsgId: 'c-1' });
        const b = await chat.append(roomConversation('lobby'), { roomId: 'lobby', user: { ...alice, displayName: 'Alice Renamed' }, text: 'x' });
        const dm = await chat.append(dmConversation('bob', 'alice'), { roomId: 'dm:alice:bob', user: alice, text: 'psst', to: 'bob' });
        const [ra, rb] = await twin.page(roomConversation('lobby'), { limit: 10 });
        expect(ra).to.deep.equal(a);
        expect(ra).to.deep.equal({ id: a.id, roomId: 'lobby', user: alice, text, ts: a.ts, clientMsgId: 'c-1' });
        expect(rb).to.deep.equal(b);
        expect(rb).to.not.have.property('clientMsgId');
        expect(rb?.user.displayName).to.equal('Alice Renamed');
        expect(ra?.user.displayName).to.equal('Alice');
        const [rdm] = await twin.page(dmConversation('alice', 'bob'), { limit: 10 });
        expect(rdm).to.deep.equal(dm);
        expect(rdm?.to).to.equal('bob');
      });

      it('posts to a room only if it exists and the poster may: public, or a private room\'s owner or member (checked with the write)', async () => {
        const { chat, twin } = backend.openChat({ historyLimit: 100 });
        const as = (username: string) => ({ id: `u-${username}`, username, displayName: username });
        const post = (store: ChatStore, roomId: string, username: string) => store.postToRoom(roomId, { roomId, user: as(username), text: `${username} in ${roomId}` });
        await chat.createRoom({ id: 'open', name: 'Open', private: false, owner: 'alice' });
        await chat.createRoom({ id: 'closed', name: 'Closed', private: true, owner: 'alice' });
        await chat.addMember('closed', 'bob');
        expect(await post(chat, 'nowhere', 'alice')).to.equal('missing');
        expect(await post(twin, 'closed', 'carol')).to.equal('forbidden');
        const byOwner = await post(twin, 'closed', 'alice');
        const byMember = await post(chat, 'closed', 'bob');
        const byAnyone = await post(twin, 'open', 'carol');
        const inGeneral = await post(chat, 'general', 'carol');
        for (const posted of [byOwner, byMember, byAnyone, inGeneral]) {
          expect(posted).to.be.an('object');
          const { message } = posted as Posted;
          expect(message.ts).to.equal(messageIdToIso(message.id));
        }
        expect(texts(await twin.page(roomConversation('closed'), { limit: 10 }))).to.deep.equal(['alice in closed', 'bob in closed']);
        expect(await twin.page(roomConversation('open'), { limit: 10 })).to.deep.equal([(byAnyone as Posted).message]);
        // Removed: refused from then on, and nothing was stored for the refusals.
        await twin.removeMember('closed', 'bob');
        expect(await post(chat, 'closed', 'bob')).to.equal('forbidden');
        expect(await chat.page(roomConversation('closed'), { limit: 10 })).to.have.length(2);
        expect(await chat.page(roomConversation('nowhere'), { limit: 10 })).to.deep.equal([]);
      });

      it('bounds a room posted to like any conversation', async () => {
        const { chat } = backend.openChat({ historyLimit: 3 });
        await chat.createRoom({ id: 'tiny', name: 'Tiny', private: false, owner: 'alice' });
        for (let i = 0; i < 5; i++) await chat.postToRoom('tiny', draft('tiny', `m${i}`));
        expect(texts(await chat.page(roomConversation('tiny'), { limit: 10 }))).to.deep.equal(['m2', 'm3', 'm4']);
      });

      it('keeps conversations apart', async () => {
        const { chat } = backend.openChat({ historyLimit: 100 });
        await chat.append(roomConversation('one'), draft('one', 'in one'));
        await chat.append(roomConversation('two'), draft('two', 'in two'));
        await chat.append(dmConversation('alice', 'bob'), draft('dm:alice:bob', 'in dm'));
        expect(texts(await chat.page(roomConversation('one'), { limit: 10 }))).to.deep.equal(['in one']);
        expect(texts(await chat.page(roomConversation('two'), { limit: 10 }))).to.deep.equal(['in two']);
        expect(texts(await chat.page(dmConversation('bob', 'alice'), { limit: 10 }))).to.deep.equal(['in dm']);
        expect(await chat.page(dmConversation('alice', 'carol'), { limit: 10 })).to.deep.equal([]);
        expect(await chat.page(roomConversation('empty'), { limit: 10 })).to.deep.equal([]);
      });

      it('returns the latest `limit` messages oldest first, and pages back with `before` without gaps or repeats', async () => {
        const { chat } = backend.openChat({ historyLimit: 100 });
        const conv = roomConversation('paged');
        const all = await appendMany(chat, conv, 23);
        expect(ids(await chat.page(conv, { limit: 5 }))).to.deep.equal(ids(all.slice(18)));

        const seen: Message[] = [];
        let before: string | undefined;
        for (;;) {
          const page = await chat.page(conv, before ? { before, limit: 5 } : { limit: 5 });
          if (page.length === 0) break;
          expect(page.length).to.be.at.most(5);
          seen.unshift(...page);
          before = page[0]!.id;
        }
        expect(ids(seen)).to.deep.equal(ids(all));
        expect(ids(await chat.page(conv, { before: all[3]!.id, limit: 10 }))).to.deep.equal(ids(all.slice(0, 3)));
        expect(await chat.page(conv, { before: all[0]!.id, limit: 10 })).to.deep.equal([]);
      });

      it('catches up with `after` exactly from the next message, also while new ones keep arriving', async () => {
        const { chat, twin } = backend.openChat({ historyLimit: 100 });
        const conv = roomConversation('catchup');
        const first = await appendMany(chat, conv, 10, 'a');
        const seenAt = first[4]!.id;
        expect(ids(await twin.page(conv, { after: seenAt, limit: 100 }))).to.deep.equal(ids(first.slice(5)));
        expect(ids(await twin.page(conv, { after: seenAt, limit: 2 }))).to.deep.equal(ids(first.slice(5, 7)));

        // Walk forward in pages of 3 while another process writes between the reads:
        // every message exactly once, in order.
        const collected: Message[] = [];
        const written: Message[] = [];
        let after = seenAt;
        for (;;) {
          const page = await chat.page(conv, { after, limit: 3 });
          if (written.length < 10) written.push(await twin.append(conv, draft('catchup', `b${written.length}`)));
          else if (page.length === 0) break;
          collected.push(...page);
          if (page.length > 0) after = page.at(-1)!.id;
        }
        expect(ids(collected)).to.deep.equal(ids([...first.slice(5), ...written]));
        expect(await chat.page(conv, { after: written.at(-1)!.id, limit: 10 })).to.deep.equal([]);
        expect(ids(await chat.page(conv, { after: '0-0', limit: 100 }))).to.deep.equal(ids([...first, ...written]));
      });

      it('with both `after` and `before` answers the messages strictly between, starting right after `after`', async () => {
        const { chat, twin } = backend.openChat({ historyLimit: 100 });
        const conv = roomConversation('between');
        const all = await appendMany(chat, conv, 30);
        const between = (after: Message, before: Message, limit: number) => twin.page(conv, { after: after.id, before: before.id, limit });
        expect(ids(await between(all[4]!, all[20]!, 100))).to.deep.equal(ids(all.slice(5, 20)));
        // The limit cuts at the newer end: the page starts right after `after`, as forward paging needs.
        expect(ids(await between(all[4]!, all[20]!, 5))).to.deep.equal(ids(all.slice(5, 10)));
        // One more than the range holds is how a caller learns that nothing remains beyond it.
        expect(ids(await between(all[4]!, all[20]!, 16))).to.deep.equal(ids(all.slice(5, 20)));
        expect(ids(await between(all[4]!, all[6]!, 10))).to.deep.equal([all[5]!.id]);
        // Empty, never an error: adjacent bounds, equal bounds, crossed bounds, or nothing before `before`.
        expect(await between(all[4]!, all[5]!, 10)).to.deep.equal([]);
        expect(await between(all[7]!, all[7]!, 10)).to.deep.equal([]);
        expect(await between(all[20]!, all[4]!, 10)).to.deep.equal([]);
        expect(await twin.page(conv, { after: '0-0', before: '0-0', limit: 10 })).to.deep.equal([]);
        expect(ids(await twin.page(conv, { after: '0-0', before: all[3]!.id, limit: 10 }))).to.deep.equal(ids(all.slice(0, 3)));
      });

      it('bounds a conversation to historyLimit, dropping the oldest', async () => {
        const { chat, twin } = backend.openChat({ historyLimit: 5 });
        const conv = roomConversation('short');
        const all = await appendMany(chat, conv, 12);
        const kept = await twin.page(conv, { limit: 100 });
        expect(ids(kept)).to.deep.equal(ids(all.slice(7)));
        expect(await chat.hasMessage(conv, all[6]!.id)).to.equal(false);
        expect(await chat.hasMessage(conv, all[7]!.id)).to.equal(true);
        // Catch-up from a trimmed id yields what is left, with no error.
        expect(ids(await chat.page(conv, { after: all[0]!.id, limit: 100 }))).to.deep.equal(ids(all.slice(7)));
      });

      it('answers hasMessage for present, absent, malformed ids and other conversations', async () => {
        const { chat } = backend.openChat({ historyLimit: 100 });
        const m = await chat.append(roomConversation('has'), draft('has', 'x'));
        expect(await chat.hasMessage(roomConversation('has'), m.id)).to.equal(true);
        expect(await chat.hasMessage(roomConversation('other'), m.id)).to.equal(false);
        expect(await chat.hasMessage(roomConversation('has'), '1-0')).to.equal(false);
        expect(await chat.hasMessage(roomConversation('has'), 'not-an-id')).to.equal(false);
      });
    });

    describe('reactions', () => {
      it('toggles a user on and off an emoji and answers the whole map, sorted, without empty emojis', async () => {
        const { chat, twin } = backend.openChat({ historyLimit: 100 });
        const conv = roomConversation('react');
        const m = await chat.append(conv, draft('react', 'hello'));
        expect(await chat.toggleReaction(conv, m.id, '👍', 'carol')).to.deep.equal({ '👍': ['carol'] });
        expect(await twin.toggleReaction(conv, m.id, '👍', 'alice')).to.deep.equal({ '👍': ['alice', 'carol'] });
        expect(await chat.toggleReaction(conv, m.id, ':tada:', 'bob')).to.deep.equal({ ':tada:': ['bob'], '👍': ['alice', 'carol'] });
        expect(await twin.toggleReaction(conv, m.id, '👍', 'carol')).to.deep.equal({ ':tada:': ['bob'], '👍': ['alice'] });
        expect(await chat.toggleReaction(conv, m.id, '👍', 'alice')).to.deep.equal({ ':tada:': ['bob'] });
        expect(await chat.toggleReaction(conv, m.id, ':tada:', 'bob')).to.deep.equal({});
        // And back on again after the message had no reactions at all.
        expect(await twin.toggleReaction(conv, m.id, '1', 'bob')).to.deep.equal({ '1': ['bob'] });
      });

      it('carries each message\'s reaction map in history pages, and none where nobody reacted', async () => {
        const { chat, twin } = backend.openChat({ historyLimit: 100 });
        const conv = roomConversation('history-reactions');
        const m1 = await chat.append(conv, draft('history-reactions', 'one'));
        const m2 = await chat.append(conv, draft('history-reactions', 'two'));
        await chat.toggleReaction(conv, m1.id, '👍', 'carol');
        await twin.toggleReaction(conv, m1.id, '👍', 'alice');
        await chat.toggleReaction(conv, m2.id, '🎉', 'bob');
        await chat.toggleReaction(conv, m2.id, '🎉', 'bob'); // and off again
        const page = await twin.page(conv, { limit: 10 });
        expect(page.map((m) => [m.text, m.reactions])).to.deep.equal([
          ['one', { '👍': ['alice', 'carol'] }],
          ['two', undefined],
        ]);
      });

      it('keeps emoji named like Object.prototype keys as own keys, in toggles and history pages', async () => {
        const { chat, twin } = backend.openChat({ historyLimit: 100 });
        const conv = roomConversation('prototype-names');
        const m = await chat.append(conv, draft('prototype-names', 'x'));
        let want: Array<[string, string[]]> = [];
        const toggle = async (store: ChatStore, emoji: string, username: string) => {
          want = togglePairs(want, emoji, username);
          expect(ownReactionPairs((await store.toggleReaction(conv, m.id, emoji, username)) as Reactions), `toggle ${emoji}`).to.deep.equal(want);
          const [paged] = await twin.page(conv, { limit: 1 });
          expect(ownReactionPairs(paged?.reactions ?? {}), `page after ${emoji}`).to.deep.equal(want);
        };
        for (const name of PROTOTYPE_NAMES) await toggle(chat, name, 'alice');
        await toggle(twin, '__proto__', 'bob');
        for (const name of PROTOTYPE_NAMES) await toggle(chat, name, 'alice');
        await toggle(twin, '__proto__', 'bob');
        expect(want).to.deep.equal([]);
      });

      it('loses no toggle when many users react at once', async () => {
        const { chat, twin } = backend.openChat({ historyLimit: 100 });
        const conv = roomConversation('busy');
        const m = await chat.append(conv, draft('busy', 'vote'));
        const voters = Array.from({ length: 30 }, (_, i) => `voter_${String(i).padStart(2, '0')}`);
        await Promise.all(voters.map((v, i) => (i % 2 ? twin : chat).toggleReaction(conv, m.id, '❤️', v)));
        expect(await chat.toggleReaction(conv, m.id, '👀', 'alice')).to.deep.equal({ '❤️': voters, '👀': ['alice'] });
      });

      it('answers missing for unknown, malformed and trimmed messages, storing nothing', async () => {
        const { chat } = backend.openChat({ historyLimit: 2 });
        const conv = roomConversation('gone');
        const [old] = await appendMany(chat, conv, 1);
        await chat.toggleReaction(conv, old!.id, '👍', 'alice');
        expect(await chat.toggleReaction(conv, '1-0', '👍', 'alice')).to.equal('missing');
        expect(await chat.toggleReaction(conv, 'bogus', '👍', 'alice')).to.equal('missing');
        expect(await chat.toggleReaction(roomConversation('elsewhere'), old!.id, '👍', 'alice')).to.equal('missing');
        expect(await chat.page(roomConversation('elsewhere'), { limit: 10 })).to.deep.equal([]);
        await appendMany(chat, conv, 2); // trims `old` away
        expect(await chat.toggleReaction(conv, old!.id, '👍', 'bob')).to.equal('missing');
      });

      it('caps the distinct emojis per message (answering full, changing nothing), while existing emojis still toggle', async () => {
        const { chat } = backend.openChat({ historyLimit: 100, maxReactionEmojis: 3 });
        const conv = roomConversation('cap');
        const m = await chat.append(conv, draft('cap', 'x'));
        for (const e of ['a', 'b', 'c']) await chat.toggleReaction(conv, m.id, e, 'alice');
        expect(await chat.toggleReaction(conv, m.id, 'd', 'alice')).to.equal('full');
        expect((await chat.page(conv, { limit: 1 }))[0]?.reactions).to.deep.equal({ a: ['alice'], b: ['alice'], c: ['alice'] });
        expect(await chat.toggleReaction(conv, m.id, 'a', 'bob')).to.deep.equal({ a: ['alice', 'bob'], b: ['alice'], c: ['alice'] });
        await chat.toggleReaction(conv, m.id, 'c', 'alice'); // frees a slot
        expect(await chat.toggleReaction(conv, m.id, 'd', 'alice')).to.deep.equal({ a: ['alice', 'bob'], b: ['alice'], d: ['alice'] });
      });
    });
  });
}

function presenceContract(backend: Backend) {
  describe(`PresenceStore contract (${backend.name})`, () => {
    needs(backend.name);
    before(() => backend.setup());
    after(() => backend.teardown());

    it('reports only the first socket and the last socket of a user', async () => {
      const { a } = backend.openPresence();
      expect(await a.connect('u1', 's1')).to.equal('first');
      expect(await a.connect('u1', 's2')).to.equal('more');
      expect(await a.online()).to.deep.equal(['u1']);
      expect(await a.disconnect('u1', 's1')).to.equal('none');
      expect(await a.online()).to.deep.equal(['u1']);
      expect(await a.disconnect('u1', 's2')).to.equal('offline');
      expect(await a.online()).to.deep.equal([]);
    });

    it('answers connectNow as connect would, or not at all (undefined, and nothing recorded)', async () => {
      const { a } = backend.openPresence();
      const answers = [];
      for (let i = 0; i < 6; i++) {
        const now = a.connectNow('u1', `s${i}`, 4);
        answers.push(now ?? (await a.connect('u1', `s${i}`, 4)));
      }
      expect(answers).to.deep.equal(['first', 'more', 'more', 'more', 'full', 'full']);
      for (let i = 0; i < 3; i++) expect(await a.disconnect('u1', `s${i}`)).to.equal('none');
      expect(await a.disconnect('u1', 's3')).to.equal('offline');
    });

    it('treats repeated and unknown sockets as no change', async () => {
      const { a } = backend.openPresence();
      expect(await a.disconnect('u1', 'never')).to.equal('none');
      expect(await a.disconnect('u1', 'never', { grace: true })).to.equal('none');
      expect(await a.connect('u1', 's1')).to.equal('first');
      expect(await a.connect('u1', 's1')).to.equal('more');
      expect(await a.disconnect('u1', 'other')).to.equal('none');
      expect(await a.disconnect('u1', 's1')).to.equal('offline');
      expect(await a.disconnect('u1', 's1')).to.equal('none');
      expect(await a.settle('u1', 's1'), 'no grace period was started').to.equal(false);
    });

    it('counts sockets across processes: first and last are reported once, wherever they are', async () => {
      const { a, b } = backend.openPresence();
      expect(await a.connect('u1', 'a-1')).to.equal('first');
      expect(await b.connect('u1', 'b-1')).to.equal('more');
      expect(await a.disconnect('u1', 'a-1')).to.equal('none');
      expect(await b.online()).to.deep.equal(['u1']);
      expect(await b.disconnect('u1', 'b-1')).to.equal('offline');
      expect(await a.online()).to.deep.equal([]);
    });

    it('stays exact when processes race on the same user', async () => {
      const { a, b } = backend.openPresence();
      for (let round = 0; round < 10; round++) {
        const firsts = await Promise.all([a.connect('u', `a${round}`), b.connect('u', `b${round}`), a.connect('u', `c${round}`)]);
        expect(firsts.filter((f) => f === 'first'), `round ${round} connect`).to.have.length(1);
        const lasts = await Promise.all([b.disconnect('u', `b${round}`), a.disconnect('u', `a${round}`), a.disconnect('u', `c${round}`)]);
        expect(lasts.filter((l) => l === 'offline'), `round ${round} disconnect`).to.have.length(1);
        expect(lasts.filter((l) => l === 'none'), `round ${round} disconnect`).to.have.length(2);
      }
      expect(await a.online()).to.deep.equal([]);
    });

    it('keeps a user online through the grace period after their last socket; a socket back within it, on any process, is no first', async () => {
      const { a, b } = backend.openPresence();
      expect(await a.connect('u1', 's1')).to.equal('first');
      expect(await a.disconnect('u1', 's1', { grace: true })).to.equal('grace');
      expect(await b.online(), 'listed while in grace').to.deep.equal(['u1']);
      expect(await b.connect('u1', 's2')).to.equal('more');
      expect(await a.settle('u1', 's1'), 'came back: nothing to settle').to.equal(false);
      expect(await a.online()).to.deep.equal(['u1']);
      // Leaving again starts a new grace period, which only its own settle ends.
      expect(await b.disconnect('u1', 's2', { grace: true })).to.equal('grace');
      expect(await a.settle('u1', 's1')).to.equal(false);
      expect(await b.online()).to.deep.equal(['u1']);
      expect(await b.settle('u1', 's2')).to.equal(true);
      expect(await a.online()).to.deep.equal([]);
      expect(await a.connect('u1', 's3')).to.equal('first');
    });

    it('settles a grace period into offline exactly once', async () => {
      const { a } = backend.openPresence();
      await a.connect('u1', 's1');
      await a.connect('u2', 's2');
      expect(await a.disconnect('u1', 's1', { grace: true })).to.equal('grace');
      const settles = await Promise.all([a.settle('u1', 's1'), a.settle('u1', 's1'), a.settle('u1', 's1')]);
      expect(settles.filter(Boolean)).to.have.length(1);
      expect(await a.online()).to.deep.equal(['u2']);
      expect(await a.settle('u1', 's1')).to.equal(false);
      expect(await a.settle('u1')).to.equal(false);
      // Without a socket id: whichever grace period of the user this process started.
      expect(await a.disconnect('u2', 's2', { grace: true })).to.equal('grace');
      expect(await a.settle('u2', 'another')).to.equal(false);
      expect(await a.settle('u2')).to.equal(true);
      expect(await a.online()).to.deep.equal([]);
    });

    it('counts only real sockets against the cap, not a user in their grace period', async () => {
      const { a, b } = backend.openPresence();
      expect(await a.connect('u1', 's1', 1)).to.equal('first');
      expect(await a.connect('u1', 's2', 1)).to.equal('full');
      expect(await a.disconnect('u1', 's1', { grace: true })).to.equal('grace');
      expect(await b.connect('u1', 's2', 1)).to.equal('more');
      expect(await a.connect('u1', 's3', 1)).to.equal('full');
    });

    it('stays exact when a socket coming back races the end of the grace period', async () => {
      const { a, b } = backend.openPresence();
      for (let round = 0; round < 20; round++) {
        expect(await a.connect('u', `a${round}`), `round ${round}`).to.equal('first');
        expect(await a.disconnect('u', `a${round}`, { grace: true })).to.equal('grace');
        const [settled, back] = await Promise.all([a.settle('u', `a${round}`), b.connect('u', `b${round}`)]);
        // Either the grace period ended first (offline, then online again) or the socket came back first (nothing at all).
        expect(back, `round ${round}`).to.equal(settled ? 'first' : 'more');
        expect(await b.online()).to.deep.equal(['u']);
        expect(await b.disconnect('u', `b${round}`, { grace: true })).to.equal('grace');
        expect(await b.settle('u', `b${round}`)).to.equal(true);
      }
      expect(await a.online()).to.deep.equal([]);
    });

    it('starts one grace period when the last sockets on two processes leave at once, and settles it once', async () => {
      const { a, b } = backend.openPresence();
      for (let round = 0; round < 10; round++) {
        await Promise.all([a.connect('u', `a${round}`), b.connect('u', `b${round}`)]);
        const left = await Promise.all([a.disconnect('u', `a${round}`, { grace: true }), b.disconnect('u', `b${round}`, { grace: true })]);
        expect([...left].sort(), `round ${round}`).to.deep.equal(['grace', 'none']);
        const settled = await Promise.all([a.settle('u', `a${round}`), b.settle('u', `b${round}`)]);
        expect(settled.filter(Boolean), `round ${round}`).to.have.length(1);
        expect(await a.online()).to.deep.equal([]);
      }
    });

    it('caps the sockets of a user across processes, atomically, and lets one in again when one leaves', async () => {
      const { a, b } = backend.openPresence();
      const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).connect('capped', `s${i}`, 3)));
      expect(answers.filter((x) => x !== 'full')).to.have.length(3);
      expect(answers.filter((x) => x === 'first')).to.have.length(1);
      const admitted = answers.flatMap((x, i) => (x === 'full' ? [] : [i]));
      // Recording an admitted socket again is no new socket; without a cap (0) nobody is refused.
      expect(await (admitted[0]! % 2 ? a : b).connect('capped', `s${admitted[0]}`, 3)).to.equal('more');
      expect(await a.connect('capped', 'another', 3)).to.equal('full');
      expect(await a.connect('uncapped', 'x1', 0)).to.equal('first');
      const i = admitted[1]!;
      await (i % 2 ? a : b).disconnect('capped', `s${i}`);
      expect(await b.connect('capped', 'another', 3)).to.equal('more');
      expect(await a.connect('capped', 'one-more', 3)).to.equal('full');
    });

    it('lists each online user once', async () => {
      const { a, b } = backend.openPresence();
      await Promise.all([a.connect('u1', 'x'), b.connect('u1', 'y'), b.connect('u2', 'z')]);
      expect((await a.online()).sort()).to.deep.equal(['u1', 'u2']);
    });
  });
}

chatContract(memoryBackend);
chatContract(redisBackend());
presenceContract(memoryBackend);
presenceContract(redisBackend());

describe('Redis-only behaviour', () => {
  needs('redis');
  const backend = redisBackend();
  before(() => backend.setup());
  after(async () => {
    await backend.teardown();
    // The cleanup itself is part of the contract with a shared Redis: nothing of this run may remain.
    const probe = await connectTestClient();
    try {
      expect(await deleteKeys(probe, backend.prefix)).to.equal(0);
    } finally {
      await probe.close();
    }
  });

  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  describe('message entries', () => {
    it("stores a message as a field for each of its values, named and ordered as every release reads them, whichever optional ones it has", async () => {
      const keys = backend.freshKeys();
      const [client] = backend.clients();
      const chat = createRedisChatStore(client, keys, { historyLimit: 100 });
      const base = { r: 'general', uid: alice.id, un: 'alice', dn: 'Alice' };
      const posted = await chat.postToRoom('general', { ...draft('general', 'plain') });
      const withId = await chat.postToRoom('general', { ...draft('general', 'with an id'), clientMsgId: 'c-1' });
      const appended = await chat.append(roomConversation('general'), { ...draft('general', 'appended'), clientMsgId: 'c-2' });
      const dm = draft('dm:alice:bob', 'psst');
      const toBob = await chat.append(dmConversation('alice', 'bob'), { ...dm, to: 'bob' });
      const toBobWithId = await chat.append(dmConversation('alice', 'bob'), { ...dm, to: 'bob', clientMsgId: 'c-3' });
      const raw = async (conversation: string) =>
        (await client.xRange(keys.stream(conversation), '-', '+')).map((e) => Object.entries(e.message));
      expect(await raw(roomConversation('general'))).to.deep.equal([
        Object.entries({ ...base, t: 'plain' }),
        Object.entries({ ...base, t: 'with an id', c: 'c-1' }),
        Object.entries({ ...base, t: 'appended', c: 'c-2' }),
      ]);
      expect(await raw(dmConversation('alice', 'bob'))).to.deep.equal([
        Object.entries({ ...base, r: 'dm:alice:bob', t: 'psst', to: 'bob' }),
        Object.entries({ ...base, r: 'dm:alice:bob', t: 'psst', c: 'c-3', to: 'bob' }),
      ]);
      if (typeof posted === 'string' || typeof withId === 'string') throw new Error('refused');
      expect(await chat.page(roomConversation('general'), { limit: 10 })).to.deep.equal([posted.message, withId.message, appended]);
      expect(await chat.page(dmConversation('alice', 'bob'), { limit: 10 })).to.deep.equal([toBob, toBobWithId]);
      expect(toBobWithId).to.deep.include({ to: 'bob', clientMsgId: 'c-3' });
      expect(toBob).to.not.have.property('clientMsgId');
    });
  });

  describe('posts of one turn of the event loop', () => {
    /** A chat store on a client that records the keys of every script call it makes (evalSha, eval). */
    function counted() {
      const keys = backend.freshKeys();
      const [client] = backend.clients();
      const calls: string[][] = [];
      const spy = new Proxy(client, {
        get(target, prop) {
          const value: unknown = Reflect.get(target, prop, target);
          if (prop !== 'evalSha' && prop !== 'eval') return typeof value === 'function' ? value.bind(target) : value;
          return (script: string, options: { keys: string[] }) => {
            calls.push(options.keys);
            return (value as (s: string, o: unknown) => Promise<unknown>).call(target, script, options);
          };
        },
      });
      return { keys, client, calls, chat: createRedisChatStore(spy, keys, { historyLimit: 1000 }) };
    }
    const as = (username: string): User => ({ id: `u-${username}`, username, displayName: username });

    it('stores them in one script call, each post answered on its own: stored, missing, forbidden or failed', async () => {
      const { keys, client, calls, chat } = counted();
      await chat.createRoom({ id: 'open', name: 'Open', private: false, owner: 'alice' });
      await chat.createRoom({ id: 'closed', name: 'Closed', private: true, owner: 'alice' });
      await chat.createRoom({ id: 'broken', name: 'Broken', private: false, owner: 'alice' });
      await client.set(keys.stream(roomConversation('broken')), 'not a stream'); // its XADD fails: WRONGTYPE
      calls.length = 0;
      const posts = [
        chat.postToRoom('open', draft('open', 'first', as('bob'))),
        chat.postToRoom('closed', draft('closed', 'not a member', as('carol'))),
        chat.postToRoom('nowhere', draft('nowhere', 'no such room')),
        chat.postToRoom('broken', draft('broken', 'fails')),
        chat.postToRoom('closed', { ...draft('closed', "the owner's"), clientMsgId: 'c-1' }),
        chat.postToRoom('open', draft('open', 'second', as('carol'))),
      ];
      const settled = await Promise.allSettled(posts);
      expect(calls.map((k) => k.length), 'one call, five keys a post').to.deep.equal([30]);
      const [first, notMember, missing, failed, owners, second] = settled.map((s) => (s.status === 'fulfilled' ? s.value : s.reason)) as unknown[];
      expect(notMember).to.equal('forbidden');
      expect(missing).to.equal('missing');
      expect(failed).to.be.instanceOf(Error);
      expect((failed as Error).message).to.match(/WRONGTYPE/);
      const stored = [first, owners, second] as Posted[];
      expect(stored.map((p) => [p.message.text, p.message.user.username, p.message.clientMsgId])).to.deep.equal([
        ['first', 'bob', undefined],
        ["the owner's", 'alice', 'c-1'],
        ['second', 'carol', undefined],
      ]);
      expect(compareMessageIds(stored[0]!.message.id, stored[2]!.message.id)).to.be.lessThan(0);
      expect(await chat.page(roomConversation('open'), { limit: 10 })).to.deep.equal([stored[0]!.message, stored[2]!.message]);
      expect(await chat.page(roomConversation('closed'), { limit: 10 })).to.deep.equal([stored[1]!.message]);
      expect(await client.get(keys.stream(roomConversation('broken')))).to.equal('not a stream');
    });

    it('appends them (DMs) in one script call too, each answered on its own', async () => {
      const { keys, client, calls, chat } = counted();
      const broken = dmConversation('alice', 'mallory');
      await client.set(keys.stream(broken), 'not a stream');
      const toBob = dmConversation('alice', 'bob');
      const toCarol = dmConversation('alice', 'carol');
      const settled = await Promise.allSettled([
        chat.append(toBob, { ...draft(toBob, 'one'), to: 'bob' }),
        chat.append(broken, { ...draft(broken, 'fails'), to: 'mallory' }),
        chat.append(toCarol, { ...draft(toCarol, 'two'), to: 'carol', clientMsgId: 'c-2' }),
        chat.append(toBob, { ...draft(toBob, 'three'), to: 'bob' }),
      ]);
      expect(calls.map((k) => k.length), 'one call, two keys an append').to.deep.equal([8]);
      expect(settled.map((s) => s.status)).to.deep.equal(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
      expect(((settled[1] as PromiseRejectedResult).reason as Error).message).to.match(/WRONGTYPE/);
      const [one, , two, three] = settled.map((s) => (s.status === 'fulfilled' ? s.value : undefined));
      expect(await chat.page(toBob, { limit: 10 })).to.deep.equal([one, three]);
      expect(await chat.page(toCarol, { limit: 10 })).to.deep.equal([two]);
      expect(two).to.deep.include({ to: 'carol', clientMsgId: 'c-2' });
    });

    it('refuses an append to something that is not a conversation before it is queued', async () => {
      const { calls, chat } = counted();
      let error: unknown;
      await chat.append('nonsense', draft('nonsense', 'x')).catch((err: unknown) => (error = err));
      expect(error).to.be.instanceOf(Error);
      expect(calls).to.deep.equal([]);
    });

    it('splits a turn of more posts than one call takes, and keeps their order', async () => {
      const { calls, chat } = counted();
      await chat.createRoom({ id: 'busy', name: 'Busy', private: false, owner: 'alice' });
      calls.length = 0;
      const count = 2 * MAX_POSTS_PER_CALL + 3;
      const posted = await Promise.all(Array.from({ length: count }, (_, i) => chat.postToRoom('busy', draft('busy', `m${i}`))));
      expect(calls.map((k) => k.length / 5)).to.deep.equal([MAX_POSTS_PER_CALL, MAX_POSTS_PER_CALL, 3]);
      const messages = (posted as Posted[]).map((p) => p.message);
      expect(await chat.page(roomConversation('busy'), { limit: count })).to.deep.equal(messages);
      expect(texts(messages)).to.deep.equal(Array.from({ length: count }, (_, i) => `m${i}`));
    });
  });

  describe('presence sweep', () => {
    function twoProcesses(sweepAfterMs: number) {
      const keys = backend.freshKeys();
      const [ca, cb] = backend.clients();
      return {
        keys,
        a: createRedisPresenceStore(ca, keys, { processId: 'proc-a', sweepAfterMs }),
        b: createRedisPresenceStore(cb, keys, { processId: 'proc-b', sweepAfterMs }),
      };
    }

    it("removes a dead process's sockets and reports exactly the users that went offline", async () => {
      const { a, b } = twoProcesses(150);
      await a.connect('only-on-a', 'a1');
      await a.connect('only-on-a', 'a2');
      await a.connect('on-both', 'a3');
      await b.connect('on-both', 'b1');
      await b.connect('only-on-b', 'b2');
      await a.heartbeat();
      await b.heartbeat();

      expect(await b.sweep(), 'nobody is stale yet').to.deep.equal([]);
      await sleep(300); // a goes silent; b keeps beating
      await b.heartbeat();

      expect(await b.sweep()).to.deep.equal(['only-on-a']);
      expect((await b.online()).sort()).to.deep.equal(['on-both', 'only-on-b']);
      expect(await b.sweep(), 'a second sweep finds nothing').to.deep.equal([]);
      // The presumed-dead process's own late disconnects change nothing and report nothing.
      expect(await a.disconnect('only-on-a', 'a1')).to.equal('none');
      expect(await a.disconnect('on-both', 'a3')).to.equal('none');
      expect(await b.disconnect('on-both', 'b1')).to.equal('offline');
    });

    it("settles a dead process's grace periods in the sweep, and only those still its own", async () => {
      const { a, b } = twoProcesses(150);
      const leaveA = async (userId: string, socketId: string) => {
        expect(await a.connect(userId, socketId)).to.equal('first');
        expect(await a.disconnect(userId, socketId, { grace: true })).to.equal('grace');
      };
      await leaveA('gone', 'a1');
      await leaveA('came-back', 'a2');
      expect(await b.connect('came-back', 'b1')).to.equal('more');
      await leaveA('left-b-too', 'a3');
      expect(await b.connect('left-b-too', 'b2')).to.equal('more');
      expect(await b.disconnect('left-b-too', 'b2', { grace: true })).to.equal('grace'); // now b's grace period
      const recorded = await a.mine();
      expect(recorded.sockets).to.deep.equal([]);
      expect(recorded.graces.sort(), 'stale ones too, until settled or swept').to.deep.equal(['came-back', 'gone', 'left-b-too']);
      await a.heartbeat();
      await b.heartbeat();
      expect(await b.sweep()).to.deep.equal([]);
      await sleep(300); // a dies in the middle of its grace periods
      await b.heartbeat();

      expect(await b.sweep()).to.deep.equal(['gone']);
      expect((await b.online()).sort()).to.deep.equal(['came-back', 'left-b-too']);
      expect(await a.settle('gone', 'a1'), "a's late timer finds nothing").to.equal(false);
      expect(await b.settle('left-b-too', 'b2')).to.equal(true);
      expect(await b.sweep()).to.deep.equal([]);
      expect(await b.online()).to.deep.equal(['came-back']);
    });

    it('hands a stopping process over to the sweep once its grace periods are over', async () => {
      const { a, b } = twoProcesses(1000);
      await a.connect('stays-away', 'a1');
      await a.connect('comes-back', 'a2');
      await Promise.all([a.heartbeat(), b.heartbeat()]);
      expect(await a.disconnect('stays-away', 'a1', { grace: true })).to.equal('grace');
      expect(await a.disconnect('comes-back', 'a2', { grace: true })).to.equal('grace');
      await a.handOver(300);
      expect(await b.sweep(), 'not before the grace periods are over').to.deep.equal([]);
      expect(await b.connect('comes-back', 'b1')).to.equal('more');
      await sleep(400);
      await b.heartbeat();
      expect(await b.sweep()).to.deep.equal(['stays-away']);
      expect(await b.online()).to.deep.equal(['comes-back']);
    });

    it('keeps every presence key under the {presence} hash tag (one Redis Cluster slot for every script)', async () => {
      const { keys, a, b } = twoProcesses(100);
      await a.connect('u1', 'a1');
      await b.connect('u1', 'b1');
      await a.connect('u2', 'a2');
      await a.disconnect('u2', 'a2', { grace: true });
      await Promise.all([a.heartbeat(), b.heartbeat()]);
      const [client] = backend.clients();
      const written: string[] = [];
      for await (const batch of client.scanIterator({ MATCH: `${keys.prefix}*`, COUNT: 100 })) written.push(...batch);
      expect(written.sort()).to.deep.equal(
        [keys.presence, keys.presenceProcesses, keys.presenceRegistering, keys.presenceUser('u1'), keys.presenceGrace('u2'), keys.presenceProcess('proc-a'), keys.presenceProcess('proc-b')].sort(),
      );
      for (const key of written) expect(key.startsWith(`${keys.prefix}{presence}:`), key).to.equal(true);
    });

    it('never sweeps a process that heartbeats, nor itself', async () => {
      const { a, b } = twoProcesses(150);
      await a.connect('ua', 'a1');
      await b.connect('ub', 'b1');
      await a.heartbeat();
      await b.heartbeat();
      await sleep(300);
      await a.heartbeat(); // a is alive; b is late but is the one sweeping
      expect(await b.sweep()).to.deep.equal([]);
      expect((await a.online()).sort()).to.deep.equal(['ua', 'ub']);
      expect(await a.sweep()).to.deep.equal(['ub']);
    });

    it('lets two sweepers race over one dead process and reports each user once in total', async () => {
      const { keys, a, b } = twoProcesses(100);
      const [ca] = backend.clients();
      const c = createRedisPresenceStore(ca, keys, { processId: 'proc-c', sweepAfterMs: 100 });
      for (let i = 0; i < 20; i++) await a.connect(`user${i}`, `s${i}`);
      await sleep(250);
      await Promise.all([b.heartbeat(), c.heartbeat()]);
      const [fromB, fromC] = await Promise.all([b.sweep(), c.sweep()]);
      expect([...fromB, ...fromC].sort()).to.deep.equal(Array.from({ length: 20 }, (_, i) => `user${i}`).sort());
      expect(await b.online()).to.deep.equal([]);
    });
  });

  describe('presence slot leases', () => {
    /** The client, counting the scripts run through it (each one a round trip). */
    function counting(client: RedisClient) {
      let calls = 0;
      const proxy = new Proxy(client, {
        get(target, key) {
          const value: unknown = Reflect.get(target, key, target);
          if (typeof value !== 'function') return value;
          if (key === 'evalSha' || key === 'eval') return (...args: unknown[]) => (calls++, (value as (...a: unknown[]) => unknown).apply(target, args));
          return (value as (...a: unknown[]) => unknown).bind(target);
        },
      });
      return { client: proxy, calls: () => calls };
    }
    function twoProcesses() {
      const keys = backend.freshKeys();
      const [ca, cb] = backend.clients();
      const counted = counting(ca);
      return {
        keys,
        calls: counted.calls,
        a: createRedisPresenceStore(counted.client, keys, { processId: 'proc-a' }),
        b: createRedisPresenceStore(cb, keys, { processId: 'proc-b' }),
      };
    }
    const slots = async (keys: ReturnType<typeof redisKeys>, userId: string) => {
      const [client] = backend.clients();
      const hash = await client.hGetAll(keys.presenceUser(userId));
      return Object.fromEntries(Object.entries(hash).map(([k, v]) => [k, Number(v)]));
    };

    it("records a user once per process: the next sockets there spend leased slots, with no round trip, and the last one's leaving ends the lease", async () => {
      const { keys, calls, a } = twoProcesses();
      expect(await a.connect('u', 's0')).to.equal('first');
      for (let i = 1; i < 20; i++) expect(await a.connect('u', `s${i}`), `socket ${i}`).to.equal('more');
      // Leases double with the sockets here (2, 3, 6, 12 slots): 4 round trips for 20 sockets.
      expect(calls()).to.equal(4);
      const leased = await slots(keys, 'u');
      expect(Object.keys(leased), 'one field per process, none per socket').to.deep.equal(['@proc-a']);
      expect(leased['@proc-a']).to.be.within(20, 20 + SPARE_MAX);
      for (let i = 19; i > 0; i--) expect(await a.disconnect('u', `s${i}`), `socket ${i}`).to.equal('none');
      // What sockets leave is given back, keeping as much spare as there are sockets (1).
      expect(await slots(keys, 'u')).to.deep.equal({ '@proc-a': 2 });
      expect(await a.online()).to.deep.equal(['u']);
      expect(await a.disconnect('u', 's0')).to.equal('offline');
      expect(await slots(keys, 'u')).to.deep.equal({});
    });

    it('answers connectNow from a spare slot leased here, with no round trip, and never while a call of the user is in flight', async () => {
      const { keys, calls, a } = twoProcesses();
      expect(a.connectNow('u', 's0'), 'no lease here').to.equal(undefined);
      expect(await slots(keys, 'u'), 'nothing recorded').to.deep.equal({});
      expect(await a.connect('u', 's0')).to.equal('first'); // leases 1 + 1 spare
      await sleep(0); // the lease's call is done (as by the next CONNECT)
      expect(a.connectNow('u', 's1'), 'the spare').to.equal('more');
      expect(a.connectNow('u', 's1'), 'the same socket again').to.equal('more');
      expect(a.connectNow('u', 's2'), 'no spare left').to.equal(undefined);
      expect(calls()).to.equal(1);
      const leasing = a.connect('u', 's2');
      expect(a.connectNow('u', 's3'), 'a lease in flight: connect waits its turn').to.equal(undefined);
      expect(await leasing).to.equal('more');
      await sleep(0);
      expect(a.connectNow('u', 's3'), 'the new spare').to.equal('more');
      expect(calls()).to.equal(2);
      for (const s of ['s3', 's2', 's1']) expect(await a.disconnect('u', s)).to.equal('none');
      expect(await a.disconnect('u', 's0')).to.equal('offline');
      expect(await slots(keys, 'u')).to.deep.equal({});
    });

    it('never exceeds the cap across processes, and refuses early by at most the spare another process holds', async () => {
      const { keys, a, b } = twoProcesses();
      const cap = 40; // spare at most cap / 8 = 5 a process, and only while the user is within half the cap
      for (let i = 0; i < 10; i++) expect(await a.connect('u', `a${i}`, cap)).to.not.equal('full');
      const spareOnA = (await slots(keys, 'u'))['@proc-a']! - 10;
      expect(spareOnA).to.be.within(0, cap / 8);
      const onB = await Promise.all(Array.from({ length: 40 }, (_, i) => b.connect('u', `b${i}`, cap)));
      const admittedOnB = onB.filter((x) => x !== 'full').length;
      expect(10 + admittedOnB).to.be.within(cap - spareOnA, cap);
      const leased = await slots(keys, 'u');
      expect(leased['@proc-a']! + leased['@proc-b']!, 'slots counted').to.be.at.most(cap);
      // Above half the cap nothing is leased ahead: a freed slot on b is given back at once, and a takes it.
      const admitted = onB.flatMap((x, i) => (x === 'full' ? [] : [`b${i}`]));
      await b.disconnect('u', admitted[0]!);
      const more = await Promise.all([a.connect('u', 'a-more-1', cap), a.connect('u', 'a-more-2', cap)]);
      expect(more.filter((x) => x === 'more').length, 'the freed slot, and the spare a held').to.be.within(1, 1 + spareOnA);
      const after = await slots(keys, 'u');
      expect(after['@proc-a']! + after['@proc-b']!).to.be.at.most(cap);
    });

    it('stays consistent under random interleavings of connects and disconnects on two processes', async () => {
      const { keys, a, b } = twoProcesses();
      const cap = 24; // spare up to 3 a process, and only within 12 slots
      let seed = 7;
      const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
      const open = new Map<string, PresenceStore>(); // socket → the process it is on
      let next = 0;
      for (let step = 0; step < 30; step++) {
        // A burst of racing connects and disconnects, then the invariants.
        const burst: Array<Promise<unknown>> = [];
        for (let i = 0; i < 8; i++) {
          const leave = open.size > 0 && random() < 0.45;
          if (leave) {
            const [socketId, store] = [...open][Math.floor(random() * open.size)]!;
            open.delete(socketId);
            burst.push(store.disconnect('u', socketId, { grace: random() < 0.5 }));
          } else {
            const store = random() < 0.5 ? a : b;
            const socketId = `s${next++}`;
            burst.push(store.connect('u', socketId, cap).then((answer) => answer !== 'full' && open.set(socketId, store)));
          }
        }
        await Promise.all(burst);
        const leased = await slots(keys, 'u');
        const counted = Object.values(leased).reduce((x, y) => x + y, 0);
        expect(open.size, `step ${step}: sockets within the cap`).to.be.at.most(cap);
        expect(counted, `step ${step}: every socket has a slot`).to.be.at.least(open.size);
        expect(counted, `step ${step}: slots within the cap`).to.be.at.most(cap);
        for (const [name, n] of Object.entries(leased)) {
          const here = [...open.values()].filter((store) => store === (name === '@proc-a' ? a : b)).length;
          expect(n - here, `step ${step}: ${name} holds at most its spare`).to.be.within(0, cap / 8);
        }
      }
      await Promise.all([...open].map(([socketId, store]) => store.disconnect('u', socketId)));
      expect(await slots(keys, 'u'), 'every lease ended').to.deep.equal({});
    });

    it('counts an older release\'s socket fields as one slot each', async () => {
      const { keys, a } = twoProcesses();
      const [client] = backend.clients();
      await client.hSet(keys.presenceUser('u'), 'old-socket', 'proc-old');
      await client.sAdd(keys.presence, 'u');
      expect(await a.connect('u', 's1', 2)).to.equal('more');
      expect(await a.connect('u', 's2', 2)).to.equal('full');
      expect(await a.disconnect('u', 's1')).to.equal('none'); // the old socket still holds the user online
      expect(await a.online()).to.deep.equal(['u']);
    });

    it('tells a process swept as dead after a stall, at its next heartbeat; its resync puts its users back', async () => {
      const keys = backend.freshKeys();
      const [ca, cb] = backend.clients();
      const a = createRedisPresenceStore(ca, keys, { processId: 'proc-a', sweepAfterMs: 100 });
      const b = createRedisPresenceStore(cb, keys, { processId: 'proc-b', sweepAfterMs: 100 });
      expect(await a.heartbeat(), 'nothing here, nothing recorded').to.equal(true);
      await a.connect('u', 's1');
      await a.connect('u', 's2');
      expect(await a.heartbeat()).to.equal(true);
      await sleep(250); // a stalls
      await b.heartbeat();
      expect(await b.sweep()).to.deep.equal(['u']);
      expect(await a.heartbeat(), 'its records are gone').to.equal(false);
      expect(await a.resync(true)).to.deep.equal({ online: ['u'], left: [], graces: [] });
      expect(await b.online()).to.deep.equal(['u']);
      expect(await a.heartbeat()).to.equal(true);
      expect(await a.disconnect('u', 's1')).to.equal('none');
      expect(await a.disconnect('u', 's2')).to.equal('offline');
    });

    it('resyncs after lost writes: puts back the leases of the sockets a process has, ends those it has not', async () => {
      const { keys, a } = twoProcesses();
      const [client] = backend.clients();
      await a.connect('here', 'h1');
      await a.connect('here', 'h2');
      await a.connect('gone', 'g1');
      const leasedHere = (await slots(keys, 'here'))['@proc-a'];
      // Redis lost what it knew of `here`: the lease, and the user's place in the online set.
      await client.del(keys.presenceUser('here'));
      await client.sRem(keys.presence, 'here');
      // A process that restarted with the same id has no socket of `gone`: its lease is stale.
      const restarted = createRedisPresenceStore(client, keys, { processId: 'proc-a' });
      const stale = await restarted.resync(true);
      expect(stale.left.map((l) => l.userId).sort()).to.deep.equal(['gone', 'here']);
      expect(stale.left.find((l) => l.userId === 'gone')!.answer).to.equal('grace');
      expect(await restarted.settle('gone', '')).to.equal(true);
      // The process that does have those sockets puts both leases back (the stale one's
      // resync, above, ended them too): both users are online again, to be announced.
      const fixed = await a.resync(true);
      expect(fixed.online.sort()).to.deep.equal(['gone', 'here']);
      expect(fixed.left).to.deep.equal([]);
      expect(await slots(keys, 'here')).to.deep.equal({ '@proc-a': leasedHere });
      expect((await a.online()).sort()).to.deep.equal(['gone', 'here']);
      expect(await a.resync(true), 'nothing left to put right').to.deep.equal({ online: [], left: [], graces: [] });
      expect(await a.disconnect('here', 'h1')).to.equal('none');
      expect(await a.disconnect('here', 'h2')).to.equal('offline');
      expect(await a.disconnect('gone', 'g1')).to.equal('offline');
    });
  });

  describe('chat keys', () => {
    it('drops the reactions of trimmed messages along with them', async () => {
      const keys = backend.freshKeys();
      const [client] = backend.clients();
      const chat = createRedisChatStore(client, keys, { historyLimit: 2 });
      const conv = roomConversation('tidy');
      const m = await chat.append(conv, draft('tidy', 'first'));
      await chat.toggleReaction(conv, m.id, '👍', 'alice');
      expect(await client.hExists(keys.reactions(conv), m.id)).to.equal(1);
      await chat.append(conv, draft('tidy', 'second'));
      await chat.append(conv, draft('tidy', 'third'));
      expect(await client.hExists(keys.reactions(conv), m.id)).to.equal(0);
      expect(await client.xLen(keys.stream(conv))).to.equal(2);
    });

    it('drops the reactions of every message a lowered limit trims at once, and keeps the others', async () => {
      const keys = backend.freshKeys();
      const [client] = backend.clients();
      const conv = roomConversation('lowered');
      const before = createRedisChatStore(client, keys, { historyLimit: 10 });
      const all = await appendMany(before, conv, 8);
      for (const m of [all[0]!, all[2]!, all[5]!, all[7]!]) await before.toggleReaction(conv, m.id, '👍', 'alice');
      // Restarted with a lower limit: the next post trims four messages, two of them with reactions.
      const after = createRedisChatStore(client, keys, { historyLimit: 5 });
      const next = await after.append(conv, draft('lowered', 'ninth'));
      expect(ids(await after.page(conv, { limit: 100 }))).to.deep.equal([...ids(all.slice(4)), next.id]);
      expect((await client.hKeys(keys.reactions(conv))).sort()).to.deep.equal([all[5]!.id, all[7]!.id].sort());
      // Once the last reaction is gone, posts trim as before.
      await after.toggleReaction(conv, all[5]!.id, '👍', 'alice');
      await after.toggleReaction(conv, all[7]!.id, '👍', 'alice');
      await appendMany(after, conv, 3);
      expect(await client.xLen(keys.stream(conv))).to.equal(5);
      expect(await client.exists(keys.reactions(conv))).to.equal(0);
    });

    it('writes only under its prefix', async () => {
      const keys = backend.freshKeys();
      const [client] = backend.clients();
      const chat = createRedisChatStore(client, keys, { historyLimit: 10 });
      await chat.createRoom({ id: 'p', name: 'P', private: true, owner: 'alice' });
      const m = await chat.append(dmConversation('bob', 'alice'), draft('dm:alice:bob', 'x'));
      await chat.toggleReaction(dmConversation('alice', 'bob'), m.id, '👍', 'bob');
      const written: string[] = [];
      for await (const batch of client.scanIterator({ MATCH: `${keys.prefix}*`, COUNT: 100 })) written.push(...batch);
      expect(written.sort()).to.deep.equal(
        [keys.roomIndex, keys.room('general'), keys.room('p'), keys.roomMembers('p'), keys.stream('dm:alice:bob'), keys.reactions('dm:alice:bob')].sort(),
      );
    });
  });
});
