import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import type { Socket } from 'socket.io-client';
import type { Message, Reactions, User } from '../../src/chat/types.js';
import type { ChatStore } from '../../src/chat/ports.js';
import {
  collect,
  ChatHarness,
  eventWhere,
  arrivesWhere,
  fails,
  ids,
  ok,
  seedRoom,
  uniqueRoomId,
  waitFor,
  type Ack,
  type JoinAck,
  type MessageAck,
  type MessagesAck,
} from '../helpers/chat.js';
import { arrivesWithin, emitAck, nextEvent } from '../helpers/client.js';
import { ownReactionPairs, PROTOTYPE_NAMES, togglePairs } from '../helpers/reactions.js';
import { BACKENDS } from '../helpers/server.js';
import { needs } from '../support/services.js';

/*
 * Every client event of PROTOCOL.md over real sockets, success and failure,
 * on both backends. Each test makes its own users and rooms.
 */

type TypingEvent = { roomId: string; user: User; typing: boolean };
type ReactionEvent = { roomId: string; messageId: string; reactions: Reactions };
type PresenceEvent = { user: User; online: boolean };

/** A short presence grace period (PRESENCE_GRACE_MS), so that its end can be waited for. */
const GRACE_MS = 500;

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** The whole public shape of a stored message. */
function expectMessage(m: Message, expected: { roomId: string; user: User; text: string; clientMsgId?: string }) {
  expect(m.id).to.match(/^\d+-\d+$/);
  expect(m.roomId).to.equal(expected.roomId);
  expect(m.user).to.deep.equal(expected.user);
  expect(m.text).to.equal(expected.text);
  expect(m.ts).to.match(ISO_UTC);
  expect(Date.parse(m.ts)).to.equal(Number(m.id.split('-')[0]));
  if (expected.clientMsgId === undefined) expect(m).to.not.have.property('clientMsgId');
  else expect(m.clientMsgId).to.equal(expected.clientMsgId);
}

for (const backend of BACKENDS) {
  describe(`chat events over sockets (${backend})`, () => {
    needs(backend);
    const h = new ChatHarness(backend);
    before(() => h.start({ PRESENCE_GRACE_MS: String(GRACE_MS) }));
    afterEach(() => h.closeSockets());
    after(() => h.stop());

    describe('room:join', () => {
      it('joins a room and answers the room and its last 50 messages, oldest first', async () => {
        const owner = await h.user();
        const room = await h.room(owner);
        const seeded = await seedRoom(h.server, room.id, owner.user, 55);
        const s = await h.open(owner);
        const join = ok(await emitAck<JoinAck>(s, 'room:join', { roomId: room.id }));
        expect(join.room).to.deep.equal({ id: room.id, name: room.id, private: false, owner: owner.user.username });
        expect(ids(join.history)).to.deep.equal(ids(seeded.slice(5)));
        expect(join.history.map((m) => m.text)).to.deep.equal(seeded.slice(5).map((m) => m.text));
      });

      it('answers hasMore: whether messages older than the last 50 remain', async () => {
        const owner = await h.user();
        const room = await h.room(owner);
        const s = await h.open(owner);
        const join = async () => ok(await emitAck<JoinAck>(s, 'room:join', { roomId: room.id }));
        expect(await join()).to.include({ hasMore: false });
        const seeded = await seedRoom(h.server, room.id, owner.user, 50);
        expect(ids((await join()).history)).to.deep.equal(ids(seeded));
        expect((await join()).hasMore).to.equal(false);
        seeded.push(...(await seedRoom(h.server, room.id, owner.user, 1, 'more')));
        const full = await join();
        expect(ids(full.history)).to.deep.equal(ids(seeded.slice(1)));
        expect(full.hasMore).to.equal(true);
      });

      it('with since answers the oldest 100 after it and hasMore; message:history {after} pages on to the end, no gap, no repeat', async () => {
        const owner = await h.user();
        const room = await h.room(owner);
        const seeded = await seedRoom(h.server, room.id, owner.user, 250);
        const s = await h.open(owner);
        const join = ok(await emitAck<JoinAck>(s, 'room:join', { roomId: room.id, since: seeded[9]!.id }));
        expect(ids(join.history)).to.deep.equal(ids(seeded.slice(10, 110))); // messages 11..110
        expect(join.hasMore).to.equal(true);
        const caught = [...join.history];
        const more: boolean[] = [];
        for (let hasMore = join.hasMore; hasMore; ) {
          const page = ok(await emitAck<MessagesAck>(s, 'message:history', { roomId: room.id, after: caught.at(-1)!.id, limit: 100 }));
          caught.push(...page.messages);
          more.push((hasMore = page.hasMore));
        }
        expect(more).to.deep.equal([true, false]);
        expect(ids(caught)).to.deep.equal(ids(seeded.slice(10)));
        // Exactly 100 left after since: one full page and nothing more.
        const last100 = ok(await emitAck<JoinAck>(s, 'room:join', { roomId: room.id, since: seeded[149]!.id }));
        expect(ids(last100.history)).to.deep.equal(ids(seeded.slice(150)));
        expect(last100.hasMore).to.equal(false);
        const atEnd = ok(await emitAck<JoinAck>(s, 'room:join', { roomId: room.id, since: seeded.at(-1)!.id }));
        expect(atEnd.history).to.deep.equal([]);
        expect(atEnd.hasMore).to.equal(false);
      });

      it('joins general, which always exists and is public', async () => {
        const c = await h.user();
        const s = await h.open(c);
        const join = ok(await emitAck<JoinAck>(s, 'room:join', { roomId: 'general' }));
        expect(join.room).to.deep.equal({ id: 'general', name: 'General', private: false, owner: null });
        expect(join.history).to.be.an('array');
      });

      it('answers not_found for an unknown room, forbidden for a private room I am not in, and does not join', async () => {
        const owner = await h.user();
        const secret = await h.room(owner, { private: true });
        const stranger = await h.user();
        const s = await h.open(stranger);
        fails(await emitAck(s, 'room:join', { roomId: uniqueRoomId('nope') }), 'not_found');
        fails(await emitAck(s, 'room:join', { roomId: secret.id }), 'forbidden');
        // Not joined: sending there is refused.
        fails(await emitAck(s, 'message:send', { roomId: secret.id, text: 'in?' }), 'forbidden');
        expect(await h.roomMessages(owner, secret.id)).to.deep.equal([]);
      });

      it('answers bad_request for malformed payloads', async () => {
        const c = await h.user();
        const s = await h.open(c);
        for (const payload of [undefined, null, 'general', 42, [], {}, { roomId: 'Bad Room' }, { roomId: 'a'.repeat(33) }, { roomId: 7 }, { roomId: 'general', since: 'abc' }, { roomId: 'general', since: 12 }]) {
          fails(await emitAck(s, 'room:join', payload), 'bad_request', JSON.stringify(payload));
        }
        expect(s.connected).to.equal(true);
      });
    });

    describe('room:leave', () => {
      it('leaves: no more message:new from the room, and sending or typing there is refused', async () => {
        const a = await h.user();
        const b = await h.user();
        const room = await h.room(a);
        const sa = await h.openIn(a, room.id);
        const sb = await h.openIn(b, room.id);
        ok(await emitAck(sb, 'room:leave', { roomId: room.id }));
        const gotB = arrivesWithin(sb, 'message:new', 300);
        ok(await emitAck<MessageAck>(sa, 'message:send', { roomId: room.id, text: 'after you left' }));
        expect(await gotB).to.equal(false);
        fails(await emitAck(sb, 'message:send', { roomId: room.id, text: 'back?' }), 'forbidden');
        fails(await emitAck(sb, 'typing', { roomId: room.id, typing: true }), 'forbidden');
        // It may join again.
        ok(await emitAck<JoinAck>(sb, 'room:join', { roomId: room.id }));
        ok(await emitAck<MessageAck>(sb, 'message:send', { roomId: room.id, text: 'back' }));
      });

      it('is ok for a room never joined, bad_request for a malformed one', async () => {
        const c = await h.user();
        const s = await h.open(c);
        ok(await emitAck(s, 'room:leave', { roomId: 'general' }));
        ok(await emitAck(s, 'room:leave', { roomId: uniqueRoomId('never') }));
        for (const payload of [undefined, null, {}, { roomId: '' }, { roomId: 'UPPER' }, { roomId: ['general'] }]) {
          fails(await emitAck(s, 'room:leave', payload), 'bad_request', JSON.stringify(payload));
        }
      });
    });

    describe('message:send', () => {
      it('acks the stored message and sends message:new to the room members (every joined socket), nobody else', async () => {
        const a = await h.user('Ada');
        const b = await h.user();
        const outsider = await h.user();
        const room = await h.room(a);
        const sa = await h.openIn(a, room.id);
        const sa2 = await h.openIn(a, room.id); // a second tab of the sender
        const sb = await h.openIn(b, room.id);
        const sNotJoined = await h.open(b); // b's tab that did not join
        const sOut = await h.open(outsider);
        const received = [nextEvent<Message>(sa, 'message:new'), nextEvent<Message>(sa2, 'message:new'), nextEvent<Message>(sb, 'message:new')];
        const silent = [arrivesWithin(sNotJoined, 'message:new', 300), arrivesWithin(sOut, 'message:new', 300)];
        const text = '  <b>verbatim</b> & "quoted"\nline 2 ✓ 🎉  ';
        const ack = ok(await emitAck<MessageAck>(sa, 'message:send', { roomId: room.id, text, clientMsgId: 'c-1' }));
        expectMessage(ack.message, { roomId: room.id, user: a.user, text, clientMsgId: 'c-1' });
        for (const m of await Promise.all(received)) expect(m).to.deep.equal(ack.message);
        expect(await Promise.all(silent)).to.deep.equal([false, false]);
        // Stored exactly as acked.
        expect(await h.roomMessages(b, room.id)).to.deep.equal([ack.message]);
      });

      it('acks only after the message is stored', async () => {
        const a = await h.user();
        const room = await h.room(a);
        const s = await h.openIn(a, room.id);
        const chat = h.server.stores.chat;
        const original = chat.postToRoom;
        let release!: () => void;
        const gate = new Promise<void>((r) => (release = r));
        let stored: Message | undefined;
        chat.postToRoom = async (...args: Parameters<ChatStore['postToRoom']>) => {
          await gate;
          const posted = await original.apply(chat, args);
          if (typeof posted !== 'string') stored = posted.message;
          return posted;
        };
        try {
          let acked: MessageAck | undefined;
          const pending = emitAck<MessageAck>(s, 'message:send', { roomId: room.id, text: 'slow store' }).then((x) => (acked = x));
          await sleep(300);
          expect(acked, 'acked before the store answered').to.equal(undefined);
          release();
          await pending;
          expect(stored, 'the store wrote it before the ack').to.not.equal(undefined);
          expect(ok(acked!).message).to.deep.equal(stored);
        } finally {
          chat.postToRoom = original;
        }
        expect(ids(await h.roomMessages(a, room.id))).to.deep.equal([stored!.id]);
      });

      it('refuses a room the socket has not joined (even a public one, even if another tab of mine joined), storing nothing', async () => {
        const a = await h.user();
        const room = await h.room(a);
        await h.openIn(a, room.id); // another tab joined
        const s = await h.open(a);
        fails(await emitAck(s, 'message:send', { roomId: room.id, text: 'hi' }), 'forbidden');
        fails(await emitAck(s, 'message:send', { roomId: 'general', text: 'hi' }), 'forbidden');
        fails(await emitAck(s, 'message:send', { roomId: uniqueRoomId('nope'), text: 'hi' }), 'forbidden');
        expect(await h.roomMessages(a, room.id)).to.deep.equal([]);
      });

      it('refuses bad text and clientMsgId with bad_request, storing and sending nothing', async () => {
        const a = await h.user();
        const b = await h.user();
        const room = await h.room(a);
        const sa = await h.openIn(a, room.id);
        const sb = await h.openIn(b, room.id);
        const leaked = arrivesWithin(sb, 'message:new', 300);
        const bad: unknown[] = [
          { roomId: room.id, text: '' },
          { roomId: room.id, text: '   ' },
          { roomId: room.id, text: ' \n\t\r ' },
          { roomId: room.id, text: 'x'.repeat(2001) },
          { roomId: room.id, text: `  ${'y'.repeat(2001)}  ` },
          { roomId: room.id, text: '😀'.repeat(2001) },
          { roomId: room.id, text: 123 },
          { roomId: room.id, text: null },
          { roomId: room.id, text: ['hi'] },
          { roomId: room.id, text: { toString: 'hi' } },
          { roomId: room.id, text: true },
          { roomId: room.id },
          { roomId: room.id, text: 'ok', clientMsgId: '' },
          { roomId: room.id, text: 'ok', clientMsgId: 'c'.repeat(65) },
          { roomId: room.id, text: 'ok', clientMsgId: 5 },
          // Lone surrogates have no UTF-8 form, so they could not be stored verbatim.
          { roomId: room.id, text: 'half an emoji \ud83d' },
          { roomId: room.id, text: '\udc00 reversed' },
          { roomId: room.id, text: 'ok', clientMsgId: 'c-\ud800' },
          { text: 'no room' },
          { roomId: 'Not A Room', text: 'x' },
          'just a string',
          null,
          undefined,
        ];
        for (const payload of bad) fails(await emitAck(sa, 'message:send', payload), 'bad_request', JSON.stringify(payload)?.slice(0, 60));
        expect(await leaked).to.equal(false);
        expect(await h.roomMessages(a, room.id)).to.deep.equal([]);
        expect(sa.connected).to.equal(true);
      });

      it('accepts 1 and 2000 characters after trimming (code points), stored verbatim', async () => {
        const a = await h.user();
        const room = await h.room(a);
        const s = await h.openIn(a, room.id);
        const texts = ['x', 'z'.repeat(2000), `  ${'w'.repeat(2000)}\n `, '😀'.repeat(2000), ' a '];
        const acked: Message[] = [];
        for (const text of texts) acked.push(ok(await emitAck<MessageAck>(s, 'message:send', { roomId: room.id, text })).message);
        const stored = await h.roomMessages(a, room.id);
        expect(stored.map((m) => m.text)).to.deep.equal(texts);
        expect(stored).to.deep.equal(acked);
      });

      it('gives time-ordered, unique ids', async () => {
        const a = await h.user();
        const room = await h.room(a);
        const s = await h.openIn(a, room.id);
        const acks = await Promise.all(
          Array.from({ length: 10 }, (_, i) => emitAck<MessageAck>(s, 'message:send', { roomId: room.id, text: `m${i}` })),
        );
        const acked = acks.map((x) => ok(x).message);
        const stored = await h.roomMessages(a, room.id);
        expect(new Set(ids(stored)).size).to.equal(10);
        expect(stored.map((m) => m.id).sort((x, y) => cmpId(x, y))).to.deep.equal(ids(stored));
        expect(new Set(ids(acked))).to.deep.equal(new Set(ids(stored)));
      });
    });

    describe('message:history', () => {
      /** A room of `n` seeded messages, and `message:history` in it as its owner asks. */
      async function seededHistory(n: number) {
        const a = await h.user();
        const room = await h.room(a);
        const seeded = await seedRoom(h.server, room.id, a.user, n);
        const s = await h.open(a);
        const history = async (page: object) => ok(await emitAck<MessagesAck>(s, 'message:history', { roomId: room.id, ...page }));
        return { seeded, history };
      }

      it('pages with before and limit, oldest first, with no gaps or repeats; hasMore says whether older ones remain', async () => {
        const { seeded, history } = await seededHistory(120);
        const latest = await history({});
        expect(ids(latest.messages)).to.deep.equal(ids(seeded.slice(70))); // default page: 50
        expect(latest.hasMore).to.equal(true);
        const pages: Message[][] = [];
        const more: boolean[] = [];
        let before: string | undefined;
        for (let hasMore = true; hasMore; ) {
          const page = await history({ limit: 45, ...(before && { before }) });
          expect(page.messages.length).to.be.at.most(45);
          pages.unshift(page.messages);
          more.push((hasMore = page.hasMore));
          before = page.messages[0]?.id;
        }
        expect(pages.map((p) => p.length)).to.deep.equal([30, 45, 45]);
        expect(more).to.deep.equal([true, true, false]);
        expect(ids(pages.flat())).to.deep.equal(ids(seeded));
        const max = await history({ limit: 100 });
        expect(ids(max.messages)).to.deep.equal(ids(seeded.slice(20)));
        expect(max.hasMore).to.equal(true);
        // Exactly `limit` older messages left: all of them, and nothing more.
        const oldest = await history({ limit: 100, before: seeded[100]!.id });
        expect(ids(oldest.messages)).to.deep.equal(ids(seeded.slice(0, 100)));
        expect(oldest.hasMore).to.equal(false);
        expect((await history({ limit: 100, before: seeded[101]!.id })).hasMore).to.equal(true);
        const one = await history({ limit: 1, before: seeded[10]!.id });
        expect(ids(one.messages)).to.deep.equal([seeded[9]!.id]);
        expect(one.hasMore).to.equal(true);
        // Before the very first possible id there is nothing (not an error).
        expect(await history({ before: '0-0' })).to.deep.equal({ ok: true, messages: [], hasMore: false });
        expect(await history({ before: seeded[0]!.id })).to.deep.equal({ ok: true, messages: [], hasMore: false });
      });

      it('pages forward with after (hasMore: newer ones remain), and within after and before together', async () => {
        const { seeded, history } = await seededHistory(30);
        const expectPage = async (page: object, expected: Message[], hasMore: boolean) => {
          const got = await history(page);
          expect(ids(got.messages), JSON.stringify(page)).to.deep.equal(ids(expected));
          expect(got.hasMore, JSON.stringify(page)).to.equal(hasMore);
        };
        await expectPage({ after: seeded[4]!.id, limit: 10 }, seeded.slice(5, 15), true);
        await expectPage({ after: seeded[19]!.id, limit: 10 }, seeded.slice(20), false);
        await expectPage({ after: seeded[4]!.id }, seeded.slice(5), false); // default limit 50
        await expectPage({ after: '0-0', limit: 29 }, seeded.slice(0, 29), true);
        await expectPage({ after: seeded.at(-1)!.id }, [], false);
        // Both: strictly between, starting right after `after`; hasMore = more remain in that range.
        await expectPage({ after: seeded[4]!.id, before: seeded[20]!.id, limit: 10 }, seeded.slice(5, 15), true);
        await expectPage({ after: seeded[14]!.id, before: seeded[20]!.id, limit: 10 }, seeded.slice(15, 20), false);
        await expectPage({ after: seeded[4]!.id, before: seeded[20]!.id, limit: 15 }, seeded.slice(5, 20), false);
        await expectPage({ after: seeded[4]!.id, before: seeded[20]!.id }, seeded.slice(5, 20), false);
        await expectPage({ after: seeded[20]!.id, before: seeded[4]!.id }, [], false);
        await expectPage({ after: seeded[4]!.id, before: seeded[5]!.id }, [], false);
      });

      it('refuses limit above 100 and other malformed pages with bad_request; unknown room not_found; private forbidden', async () => {
        const a = await h.user();
        const stranger = await h.user();
        const room = await h.room(a);
        const secret = await h.room(a, { private: true });
        const s = await h.open(stranger);
        for (const payload of [
          { roomId: room.id, limit: 101 },
          { roomId: room.id, limit: 1000 },
          { roomId: room.id, limit: 0 },
          { roomId: room.id, limit: -5 },
          { roomId: room.id, limit: 1.5 },
          { roomId: room.id, limit: '10' },
          { roomId: room.id, before: 'yesterday' },
          { roomId: room.id, before: 5 },
          { roomId: room.id, after: 'tomorrow' },
          { roomId: room.id, after: 5 },
          { roomId: room.id, after: '1-0', limit: 101 },
          { roomId: room.id, after: '1-0', before: '9-0', limit: 101 },
          { limit: 10 },
          null,
        ]) {
          fails(await emitAck(s, 'message:history', payload), 'bad_request', JSON.stringify(payload));
        }
        fails(await emitAck(s, 'message:history', { roomId: uniqueRoomId('nope') }), 'not_found');
        fails(await emitAck(s, 'message:history', { roomId: secret.id }), 'forbidden');
      });
    });

    describe('typing', () => {
      it('reaches the other room members with the session user, not the sender nor sockets outside the room', async () => {
        const a = await h.user('Typist');
        const b = await h.user();
        const room = await h.room(a);
        const sa = await h.openIn(a, room.id);
        const sb = await h.openIn(b, room.id);
        const sbOut = await h.open(b);
        const toB = nextEvent<TypingEvent>(sb, 'typing');
        const echo = arrivesWithin(sa, 'typing', 300);
        const outside = arrivesWithin(sbOut, 'typing', 300);
        ok(await emitAck(sa, 'typing', { roomId: room.id, typing: true }));
        expect(await toB).to.deep.equal({ roomId: room.id, user: a.user, typing: true });
        expect(await echo).to.equal(false);
        expect(await outside).to.equal(false);
        const stop = nextEvent<TypingEvent>(sb, 'typing');
        ok(await emitAck(sa, 'typing', { roomId: room.id, typing: false }));
        expect((await stop).typing).to.equal(false);
      });

      it('is refused (forbidden) from a socket that has not joined, and bad_request when malformed', async () => {
        const a = await h.user();
        const b = await h.user();
        const room = await h.room(a);
        const sb = await h.openIn(b, room.id);
        const sa = await h.open(a);
        const leaked = arrivesWithin(sb, 'typing', 300);
        fails(await emitAck(sa, 'typing', { roomId: room.id, typing: true }), 'forbidden');
        expect(await leaked).to.equal(false);
        for (const payload of [{ roomId: room.id }, { roomId: room.id, typing: 'yes' }, { roomId: room.id, typing: 1 }, { typing: true }, 'typing']) {
          fails(await emitAck(sb, 'typing', payload), 'bad_request', JSON.stringify(payload));
        }
      });
    });

    describe('reaction:toggle', () => {
      it('toggles on and off and sends the whole map to the room members, not to others', async () => {
        const a = await h.user();
        const b = await h.user();
        const out = await h.user();
        const room = await h.room(a);
        const sa = await h.openIn(a, room.id);
        const sb = await h.openIn(b, room.id);
        const sOut = await h.open(out);
        ok(await emitAck(sOut, 'room:join', { roomId: 'general' }));
        const msg = ok(await emitAck<MessageAck>(sa, 'message:send', { roomId: room.id, text: 'react to me' })).message;
        const outside = collect<ReactionEvent>(sOut, 'reaction');

        const toggle = async (s: Socket, emoji: string, expected: Reactions) => {
          const seen = [sa, sb].map((x) => eventWhere<ReactionEvent>(x, 'reaction', (e) => JSON.stringify(e.reactions) === JSON.stringify(expected)));
          const ack = ok(await emitAck<Ack<{ reactions: Reactions }>>(s, 'reaction:toggle', { roomId: room.id, messageId: msg.id, emoji }));
          expect(ack.reactions).to.deep.equal(expected);
          for (const e of await Promise.all(seen)) expect(e).to.deep.equal({ roomId: room.id, messageId: msg.id, reactions: expected });
        };
        const [ua, ub] = [a.user.username, b.user.username];
        await toggle(sb, '👍', { '👍': [ub] });
        await toggle(sa, '👍', { '👍': [ua, ub].sort() });
        await toggle(sa, ':tada:', { ':tada:': [ua], '👍': [ua, ub].sort() });
        await toggle(sb, '👍', { ':tada:': [ua], '👍': [ua] });
        await toggle(sa, '👍', { ':tada:': [ua] });
        await toggle(sa, ':tada:', {});
        await sleep(300);
        expect(outside).to.deep.equal([]);
      });

      it('keeps emoji named like Object.prototype keys as own keys, alike in the ack, the broadcast and history, and removes them again', async () => {
        const a = await h.user();
        const b = await h.user();
        const room = await h.room(a);
        const sa = await h.openIn(a, room.id);
        const sb = await h.openIn(b, room.id);
        const msg = ok(await emitAck<MessageAck>(sa, 'message:send', { roomId: room.id, text: 'prototype names' })).message;
        const heard = collect<ReactionEvent>(sb, 'reaction'); // b's socket hears every toggle, b's own included

        /** The reaction map of `msg` in every kind of history: socket room:join and message:history, and HTTP. */
        const inHistory = async () => {
          const joined = ok(await emitAck<JoinAck>(sb, 'room:join', { roomId: room.id })).history;
          const paged = ok(await emitAck<MessagesAck>(sb, 'message:history', { roomId: room.id })).messages;
          const viaHttp = await h.roomMessages(b, room.id);
          return [joined, paged, viaHttp].map((messages) => messages.find((m) => m.id === msg.id)?.reactions ?? {});
        };

        let want: Array<[string, string[]]> = [];
        const toggle = async (s: Socket, who: string, emoji: string) => {
          want = togglePairs(want, emoji, who);
          const count = heard.length + 1; // counted first: b's own broadcast may arrive before b's ack
          const ack = ok(await emitAck<Ack<{ reactions: Reactions }>>(s, 'reaction:toggle', { roomId: room.id, messageId: msg.id, emoji }));
          expect(ownReactionPairs(ack.reactions), `ack after ${who} toggled ${emoji}`).to.deep.equal(want);
          await waitFor(() => heard.length >= count, `the reaction broadcast for ${emoji}`);
          expect(ownReactionPairs(heard.at(-1)!.reactions), `broadcast after ${who} toggled ${emoji}`).to.deep.equal(want);
          for (const map of await inHistory()) expect(ownReactionPairs(map), `history after ${who} toggled ${emoji}`).to.deep.equal(want);
        };

        const [ua, ub] = [a.user.username, b.user.username];
        for (const name of PROTOTYPE_NAMES) await toggle(sa, ua, name);
        await toggle(sb, ub, '__proto__');
        for (const name of PROTOTYPE_NAMES) await toggle(sa, ua, name);
        await toggle(sb, ub, '__proto__');
        expect(want).to.deep.equal([]);
        // Emptied, the message carries no `reactions` at all again.
        for (const m of [ok(await emitAck<MessagesAck>(sb, 'message:history', { roomId: room.id })).messages, await h.roomMessages(b, room.id)]) {
          expect(m.find((x) => x.id === msg.id)).to.not.have.own.property('reactions');
        }
      });

      it('answers not_found for an unknown message or one of another room; forbidden when not joined; bad_request when malformed', async () => {
        const a = await h.user();
        const room = await h.room(a);
        const other = await h.room(a);
        const s = await h.openIn(a, room.id);
        const sOther = await h.openIn(a, other.id);
        const here = ok(await emitAck<MessageAck>(s, 'message:send', { roomId: room.id, text: 'here' })).message;
        // Ids are unique within a conversation: one minted in the same millisecond elsewhere may be equal.
        let elsewhere: Message;
        do elsewhere = ok(await emitAck<MessageAck>(sOther, 'message:send', { roomId: other.id, text: 'there' })).message;
        while (elsewhere.id === here.id);
        fails(await emitAck(s, 'reaction:toggle', { roomId: room.id, messageId: '1-0', emoji: '👍' }), 'not_found');
        fails(await emitAck(s, 'reaction:toggle', { roomId: room.id, messageId: '9999999999999-0', emoji: '👍' }), 'not_found');
        fails(await emitAck(s, 'reaction:toggle', { roomId: room.id, messageId: elsewhere.id, emoji: '👍' }), 'not_found');
        const fresh = await h.open(a);
        fails(await emitAck(fresh, 'reaction:toggle', { roomId: room.id, messageId: here.id, emoji: '👍' }), 'forbidden');
        for (const payload of [
          { roomId: room.id, messageId: 'abc', emoji: '👍' },
          { roomId: room.id, messageId: here.id, emoji: '' },
          { roomId: room.id, messageId: here.id, emoji: 'two words' },
          { roomId: room.id, messageId: here.id, emoji: 'x'.repeat(17) },
          { roomId: room.id, messageId: here.id, emoji: 1 },
          { roomId: room.id, messageId: here.id, emoji: '\ud83d' },
          { roomId: room.id, messageId: here.id },
          { messageId: here.id, emoji: '👍' },
        ]) {
          fails(await emitAck(s, 'reaction:toggle', payload), 'bad_request', JSON.stringify(payload));
        }
        // None of that left a reaction behind.
        const ack = ok(await emitAck<Ack<{ reactions: Reactions }>>(s, 'reaction:toggle', { roomId: room.id, messageId: here.id, emoji: '👍' }));
        expect(ack.reactions).to.deep.equal({ '👍': [a.user.username] });
      });
    });

    describe('dm:send and dm:history', () => {
      it('delivers dm:new to every socket of sender and recipient and to nobody else', async () => {
        const alice = await h.user();
        const bob = await h.user();
        const carol = await h.user();
        const [a1, a2, b1, b2] = [await h.open(alice), await h.open(alice), await h.open(bob), await h.open(bob)];
        const c1 = await h.open(carol);
        const got = [a1, a2, b1, b2].map((s) => nextEvent<Message>(s, 'dm:new'));
        const leaked = arrivesWithin(c1, 'dm:new', 300);
        const ack = ok(await emitAck<MessageAck>(a2, 'dm:send', { to: bob.user.username, text: 'psst', clientMsgId: 'dm-1' }));
        const conv = `dm:${[alice.user.username, bob.user.username].sort().join(':')}`;
        expectMessage(ack.message, { roomId: conv, user: alice.user, text: 'psst', clientMsgId: 'dm-1' });
        expect(ack.message.to).to.equal(bob.user.username);
        for (const m of await Promise.all(got)) expect(m).to.deep.equal(ack.message);
        expect(await leaked).to.equal(false);
        // Both sides read it; a third party's conversation with either is empty.
        const fromA = ok(await emitAck<MessagesAck>(a1, 'dm:history', { with: bob.user.username })).messages;
        const fromB = ok(await emitAck<MessagesAck>(b1, 'dm:history', { with: alice.user.username })).messages;
        expect(fromA).to.deep.equal([ack.message]);
        expect(fromB).to.deep.equal([ack.message]);
        expect(ok(await emitAck<MessagesAck>(c1, 'dm:history', { with: alice.user.username })).messages).to.deep.equal([]);
        expect(ok(await emitAck<MessagesAck>(c1, 'dm:history', { with: bob.user.username })).messages).to.deep.equal([]);
      });

      it('answers not_found for an unknown recipient and bad_request for malformed payloads, sending nothing', async () => {
        const alice = await h.user();
        const bob = await h.user();
        const sa = await h.open(alice);
        const sb = await h.open(bob);
        const leaked = [arrivesWithin(sa, 'dm:new', 300), arrivesWithin(sb, 'dm:new', 300)];
        fails(await emitAck(sa, 'dm:send', { to: 'nobody_like_this_1', text: 'hello?' }), 'not_found');
        for (const payload of [
          { to: bob.user.username, text: '' },
          { to: bob.user.username, text: '  ' },
          { to: bob.user.username, text: 'q'.repeat(2001) },
          { to: bob.user.username, text: 42 },
          { to: bob.user.username, text: 'lone \udfff' },
          { to: bob.user.username },
          { to: 'Bob!', text: 'hi' },
          { to: ['x'], text: 'hi' },
          { text: 'hi' },
          'hi',
        ]) {
          fails(await emitAck(sa, 'dm:send', payload), 'bad_request', JSON.stringify(payload));
        }
        expect(await Promise.all(leaked)).to.deep.equal([false, false]);
        expect(ok(await emitAck<MessagesAck>(sa, 'dm:history', { with: bob.user.username })).messages).to.deep.equal([]);
      });

      it('pages dm:history with before and limit, with hasMore; limit above 100 is bad_request; unknown user not_found', async () => {
        const alice = await h.user();
        const bob = await h.user();
        const sa = await h.open(alice);
        const sb = await h.open(bob);
        const sent: Message[] = [];
        for (let i = 0; i < 7; i++) {
          const from = i % 2 ? sb : sa;
          const to = i % 2 ? alice.user.username : bob.user.username;
          sent.push(ok(await emitAck<MessageAck>(from, 'dm:send', { to, text: `dm ${i}` })).message);
        }
        const all = ok(await emitAck<MessagesAck>(sa, 'dm:history', { with: bob.user.username }));
        expect(all.messages).to.deep.equal(sent);
        expect(all.hasMore).to.equal(false);
        const last3 = ok(await emitAck<MessagesAck>(sb, 'dm:history', { with: alice.user.username, limit: 3 }));
        expect(ids(last3.messages)).to.deep.equal(ids(sent.slice(4)));
        expect(last3.hasMore).to.equal(true);
        const prev = ok(await emitAck<MessagesAck>(sb, 'dm:history', { with: alice.user.username, limit: 3, before: last3.messages[0]!.id }));
        expect(ids(prev.messages)).to.deep.equal(ids(sent.slice(1, 4)));
        expect(prev.hasMore).to.equal(true);
        const first = ok(await emitAck<MessagesAck>(sb, 'dm:history', { with: alice.user.username, limit: 3, before: prev.messages[0]!.id }));
        expect(ids(first.messages)).to.deep.equal(ids(sent.slice(0, 1)));
        expect(first.hasMore).to.equal(false);
        fails(await emitAck(sa, 'dm:history', { with: bob.user.username, limit: 101 }), 'bad_request');
        fails(await emitAck(sa, 'dm:history', { with: bob.user.username, before: 'x' }), 'bad_request');
        fails(await emitAck(sa, 'dm:history', { with: 'B' }), 'bad_request');
        fails(await emitAck(sa, 'dm:history', {}), 'bad_request');
        fails(await emitAck(sa, 'dm:history', { with: 'nobody_like_this_2' }), 'not_found');
      });
    });

    describe('presence', () => {
      it('lists online users with presence:list; ignores a missing payload, refuses a malformed one', async () => {
        const a = await h.user();
        const s = await h.open(a);
        await waitFor(async () => {
          const list = ok(await emitAck<Ack<{ online: User[] }>>(s, 'presence:list', {}));
          return list.online.some((u) => u.id === a.user.id);
        }, 'me in presence:list');
        const list = ok(await emitAck<Ack<{ online: User[] }>>(s, 'presence:list', {}));
        expect(list.online.find((u) => u.id === a.user.id)).to.deep.equal(a.user);
        const names = list.online.map((u) => u.username);
        expect(names).to.deep.equal([...names].sort());
        ok(await emitAck(s, 'presence:list'));
        fails(await emitAck(s, 'presence:list', 'everyone'), 'bad_request');
        fails(await emitAck(s, 'presence:list', [1, 2]), 'bad_request');
      });

      /** A watcher's socket, and what it hears of `u`'s presence. */
      async function watchPresenceOf(u: { user: User }) {
        const watcher = await h.user();
        const sw = await h.open(watcher);
        const heard = collect<PresenceEvent>(sw, 'presence');
        const listed = async () => ok(await emitAck<Ack<{ online: User[] }>>(sw, 'presence:list', {})).online.some((x) => x.id === u.user.id);
        return { sw, heard: () => heard.filter((e) => e.user.id === u.user.id).map((e) => e.online), listed };
      }

      /** Closes a socket and waits until the server has let go of it (its disconnect is handled). */
      async function closeAndGone(s: Socket) {
        const id = s.id!;
        s.close();
        await waitFor(() => !h.server.app.io.of('/').sockets.has(id), 'the server letting go of the socket');
      }

      it('announces a first connect once, and nothing when the only socket closes and a new one opens within the grace period', async () => {
        const u = await h.user();
        const { heard, listed } = await watchPresenceOf(u);
        let tab = await h.open(u);
        await waitFor(() => heard().length === 1, 'online event');
        const second = await h.open(u);
        await closeAndGone(second);
        for (let reload = 0; reload < 3; reload++) {
          await closeAndGone(tab); // the last socket: the grace period begins
          tab = await h.open(u); // back within it
        }
        await sleep(GRACE_MS + 300);
        expect(heard()).to.deep.equal([true]);
        expect(await listed()).to.equal(true);
      });

      it('announces offline exactly once, when the grace period ends, for a user who does not come back', async () => {
        const u = await h.user();
        const { heard, listed } = await watchPresenceOf(u);
        const tab = await h.open(u);
        await waitFor(() => heard().length === 1, 'online event');
        const closedAt = Date.now();
        await closeAndGone(tab);
        expect(await listed(), 'listed during the grace period').to.equal(true);
        expect(heard(), 'nothing during the grace period').to.deep.equal([true]);
        await waitFor(() => heard().length === 2, 'offline event');
        expect(Date.now() - closedAt).to.be.at.least(GRACE_MS);
        await sleep(300);
        expect(heard()).to.deep.equal([true, false]);
        expect(await listed()).to.equal(false);
      });

      it('announces online once for the first tab, nothing for the second, offline only after the last closes', async () => {
        const watcher = await h.user();
        const sw = await h.open(watcher);
        const u = await h.user();
        const aboutU = collect<PresenceEvent>(sw, 'presence');
        const mine = () => aboutU.filter((e) => e.user.id === u.user.id);
        const isListed = async () =>
          ok(await emitAck<Ack<{ online: User[] }>>(sw, 'presence:list', {})).online.some((x) => x.id === u.user.id);

        const tab1 = await h.open(u);
        await waitFor(() => mine().length === 1, 'online event');
        expect(mine()[0]).to.deep.equal({ user: u.user, online: true });
        expect(await isListed()).to.equal(true);

        const tab2 = await h.open(u);
        expect(await arrivesWhere<PresenceEvent>(sw, 'presence', (e) => e.user.id === u.user.id, 300)).to.equal(false);

        tab1.close();
        expect(await arrivesWhere<PresenceEvent>(sw, 'presence', (e) => e.user.id === u.user.id, 300)).to.equal(false);
        expect(await isListed()).to.equal(true);

        const offline = eventWhere<PresenceEvent>(sw, 'presence', (e) => e.user.id === u.user.id);
        tab2.close();
        expect(await offline).to.deep.equal({ user: u.user, online: false });
        expect(await isListed()).to.equal(false);
        expect(mine().map((e) => e.online)).to.deep.equal([true, false]);
      });
    });

    describe('identity', () => {
      it('never lets user_id, userId, user or from in a payload change who acts; receivers see the session user', async () => {
        const alice = await h.user('Alice');
        const bob = await h.user('Bob');
        const room = await h.room(alice);
        const sa = await h.openIn(alice, room.id);
        const sb = await h.openIn(bob, room.id);
        const claims = {
          user_id: bob.user.id,
          userId: bob.user.id,
          user: bob.user,
          from: bob.user.username,
          username: bob.user.username,
          id: '1-0',
          ts: '2000-01-01T00:00:00.000Z',
        };
        const seenByB = nextEvent<Message>(sb, 'message:new');
        const sent = ok(await emitAck<MessageAck>(sa, 'message:send', { ...claims, roomId: room.id, text: 'who am I' })).message;
        expect(sent.user).to.deep.equal(alice.user);
        expect(sent.id).to.not.equal('1-0');
        expect(sent.ts).to.not.equal(claims.ts);
        expect((await seenByB).user).to.deep.equal(alice.user);
        expect((await h.roomMessages(bob, room.id))[0]!.user).to.deep.equal(alice.user);

        const typingSeen = nextEvent<TypingEvent>(sb, 'typing');
        ok(await emitAck(sa, 'typing', { ...claims, roomId: room.id, typing: true }));
        expect((await typingSeen).user).to.deep.equal(alice.user);

        const reacted = ok(await emitAck<Ack<{ reactions: Reactions }>>(sa, 'reaction:toggle', { ...claims, roomId: room.id, messageId: sent.id, emoji: '👀' }));
        expect(reacted.reactions).to.deep.equal({ '👀': [alice.user.username] });

        // A DM claiming to be from bob is still from alice; bob's conversation with carol stays empty.
        const carol = await h.user();
        const sc = await h.open(carol);
        const dmSeen = nextEvent<Message>(sc, 'dm:new');
        const dm = ok(await emitAck<MessageAck>(sa, 'dm:send', { ...claims, to: carol.user.username, text: 'hi carol' })).message;
        expect(dm.user).to.deep.equal(alice.user);
        expect((await dmSeen).user).to.deep.equal(alice.user);
        expect(ok(await emitAck<MessagesAck>(sb, 'dm:history', { with: carol.user.username, ...claims })).messages).to.deep.equal([]);
      });
    });

    describe('rate limit', () => {
      it('allows 30 sends per user across sockets (message:send + dm:send), refuses the rest with rate_limited, storing and sending nothing', async () => {
        const a = await h.user();
        const b = await h.user();
        const room = await h.room(a);
        const s1 = await h.openIn(a, room.id);
        const s2 = await h.open(a);
        const watcher = await h.openIn(b, room.id);
        const roomSeen = collect<Message>(watcher, 'message:new');
        const dmSeen = collect<Message>(watcher, 'dm:new');
        const attempts: Array<Promise<{ kind: 'room' | 'dm'; ack: MessageAck }>> = [];
        for (let i = 0; i < 40; i++) {
          if (i % 2 === 0) {
            attempts.push(emitAck<MessageAck>(s1, 'message:send', { roomId: room.id, text: `room ${i}` }).then((ack) => ({ kind: 'room', ack })));
          } else {
            attempts.push(emitAck<MessageAck>(s2, 'dm:send', { to: b.user.username, text: `dm ${i}` }).then((ack) => ({ kind: 'dm', ack })));
          }
        }
        const results = await Promise.all(attempts);
        for (const r of results) if (!r.ack.ok) fails(r.ack, 'rate_limited');
        const accepted = results.filter((r) => r.ack.ok);
        expect(accepted).to.have.length(30);
        const acceptedRoom = accepted.filter((r) => r.kind === 'room').map((r) => (r.ack as { message: Message }).message);
        const acceptedDm = accepted.filter((r) => r.kind === 'dm').map((r) => (r.ack as { message: Message }).message);

        // Stored count equals accepted count, per conversation.
        const storedRoom = await h.roomMessages(a, room.id);
        expect(new Set(ids(storedRoom))).to.deep.equal(new Set(ids(acceptedRoom)));
        const storedDm = ok(await emitAck<MessagesAck>(watcher, 'dm:history', { with: a.user.username, limit: 100 })).messages;
        expect(new Set(ids(storedDm))).to.deep.equal(new Set(ids(acceptedDm)));
        // Sent count equals accepted count.
        await waitFor(() => roomSeen.length >= acceptedRoom.length && dmSeen.length >= acceptedDm.length, 'broadcasts of accepted sends');
        expect(await arrivesWithin(watcher, 'message:new', 300)).to.equal(false);
        expect(new Set(ids(roomSeen))).to.deep.equal(new Set(ids(acceptedRoom)));
        expect(new Set(ids(dmSeen))).to.deep.equal(new Set(ids(acceptedDm)));
        // Still limited, from a brand-new socket too; another user is not.
        const s3 = await h.openIn(a, room.id);
        fails(await emitAck(s3, 'message:send', { roomId: room.id, text: 'one more' }), 'rate_limited');
        ok(await emitAck<MessageAck>(watcher, 'message:send', { roomId: room.id, text: 'b is fine' }));
      });
    });

    describe('robustness', () => {
      it('answers an unknown event with bad_request and survives events without an ack callback', async () => {
        const a = await h.user();
        const room = await h.room(a);
        const s = await h.openIn(a, room.id);
        fails(await emitAck(s, 'no:such:event', {}), 'bad_request');
        fails(await emitAck(s, 'message:new', { roomId: room.id, text: 'server event name' }), 'bad_request');
        fails(await emitAck(s, 'error', {}), 'bad_request');
        s.emit('message:send', { roomId: room.id, text: 'no ack' });
        s.emit('message:send', 'garbage without ack');
        s.emit('room:join');
        s.emit('no:such:event');
        s.emit('typing', { roomId: room.id, typing: true }, 'extra', 'args');
        const after = ok(await emitAck<MessageAck>(s, 'message:send', { roomId: room.id, text: 'still here' }));
        await waitFor(async () => (await h.roomMessages(a, room.id)).length === 2, 'both messages stored');
        expect((await h.roomMessages(a, room.id)).map((m) => m.text).sort()).to.deep.equal(['no ack', 'still here']);
        expect(after.message.text).to.equal('still here');
        expect(s.connected).to.equal(true);
      });

      it('acks internal when a store fails and logs it with the user and the event', async () => {
        const a = await h.user();
        const b = await h.user();
        const room = await h.room(a);
        const sa = await h.openIn(a, room.id);
        const sb = await h.openIn(b, room.id);
        const chat = h.server.stores.chat;
        const originals = { append: chat.append, postToRoom: chat.postToRoom, getRoom: chat.getRoom, page: chat.page };
        const boom = async () => {
          throw new Error('disk on fire');
        };
        const leaked = [arrivesWithin(sb, 'message:new', 300), arrivesWithin(sb, 'dm:new', 300)];
        const logged = await h.captureErrors(async () => {
          chat.append = boom;
          chat.postToRoom = boom;
          try {
            const sendAck = await emitAck(sa, 'message:send', { roomId: room.id, text: 'lost' });
            fails(sendAck, 'internal');
            expect((sendAck as { error: { message: string } }).error.message).to.not.contain('disk on fire');
            fails(await emitAck(sa, 'dm:send', { to: b.user.username, text: 'lost too' }), 'internal');
          } finally {
            chat.append = originals.append;
            chat.postToRoom = originals.postToRoom;
          }
          chat.getRoom = boom;
          try {
            fails(await emitAck(sa, 'room:join', { roomId: room.id }), 'internal');
          } finally {
            chat.getRoom = originals.getRoom;
          }
          chat.page = boom;
          try {
            fails(await emitAck(sa, 'message:history', { roomId: room.id }), 'internal');
          } finally {
            chat.page = originals.page;
          }
        });
        expect(await Promise.all(leaked)).to.deep.equal([false, false]);
        const events = logged.map((l) => ({ event: l.obj.event, user: l.obj.user, err: String((l.obj.err as Error)?.message) }));
        for (const event of ['message:send', 'dm:send', 'room:join', 'message:history']) {
          expect(events, event).to.deep.include({ event, user: a.user.username, err: 'disk on fire' });
        }
        // Restored: everything works again, and the failures stored nothing.
        ok(await emitAck<MessageAck>(sa, 'message:send', { roomId: room.id, text: 'fine now' }));
        expect((await h.roomMessages(a, room.id)).map((m) => m.text)).to.deep.equal(['fine now']);
      });
    });
  });
}

function cmpId(x: string, y: string): number {
  const [xm, xs] = x.split('-').map(Number) as [number, number];
  const [ym, ys] = y.split('-').map(Number) as [number, number];
  return xm - ym || xs - ys;
}

describe('the presence grace period as a setting', () => {
  it('reads PRESENCE_GRACE_MS (0-5000, default 5000) and names the variable in errors', async () => {
    const { loadConfig } = await import('../../src/config.js');
    expect(loadConfig({}).presenceGraceMs).to.equal(5000);
    expect(loadConfig({ PRESENCE_GRACE_MS: '0' }).presenceGraceMs).to.equal(0);
    expect(loadConfig({ PRESENCE_GRACE_MS: '300' }).presenceGraceMs).to.equal(300);
    for (const bad of ['5001', '-1', '1.5', 'soon']) {
      expect(() => loadConfig({ PRESENCE_GRACE_MS: bad }), bad).to.throw(/^PRESENCE_GRACE_MS: /);
    }
  });
});
