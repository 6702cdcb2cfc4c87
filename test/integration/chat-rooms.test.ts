import { expect } from 'chai';
import type { Message, Room } from '../../src/chat/types.js';
import {
  ChatHarness,
  collect,
  eventWhere,
  fails,
  ids,
  ok,
  seedRoom,
  uniqueRoomId,
  type Ack,
  type JoinAck,
  type MessageAck,
  type MessagesAck,
} from '../helpers/chat.js';
import { arrivesWithin, emitAck, nextEvent, TestClient } from '../helpers/client.js';
import { BACKENDS } from '../helpers/server.js';
import { needs } from '../support/services.js';

/*
 * The rooms HTTP API, private rooms and membership (also as seen from sockets),
 * history paging over HTTP, and the `room:join {since}` catch-up, on both backends.
 */

const GENERAL: Room = { id: 'general', name: 'General', private: false, owner: null };

for (const backend of BACKENDS) {
  describe(`rooms API and private rooms (${backend})`, () => {
    needs(backend);
    const h = new ChatHarness(backend);
    before(() => h.start());
    afterEach(() => h.closeSockets());
    after(() => h.stop());

    const listRooms = async (c: TestClient) => (await c.agent.get('/api/rooms').expect(200)).body.rooms as Room[];
    const expectError = (res: { body: { error: { code: string; message: string } } }, code: string) => {
      expect(res.body.error.code).to.equal(code);
      expect(res.body.error.message).to.be.a('string');
    };

    describe('general', () => {
      it('always exists, is public, comes first, and cannot be created again or managed', async () => {
        const a = await h.user();
        const rooms = await listRooms(a);
        expect(rooms[0]).to.deep.equal(GENERAL);
        expectError(await a.post('/api/rooms', { id: 'general' }).expect(409), 'room_exists');
        expectError(await a.post('/api/rooms', { id: 'general', private: true }).expect(409), 'room_exists');
        const b = await h.user();
        expectError(await a.post('/api/rooms/general/members', { username: b.user.username }).expect(403), 'forbidden');
        expectError(await a.delete(`/api/rooms/general/members/${b.user.username}`).expect(403), 'forbidden');
        expect((await listRooms(b))[0]).to.deep.equal(GENERAL);
        // Anyone may read it over HTTP.
        await b.agent.get('/api/rooms/general/messages').expect(200);
      });
    });

    describe('POST /api/rooms', () => {
      it('creates a room owned by me (name defaults to the id, public by default), listed for everyone', async () => {
        const a = await h.user();
        const id = uniqueRoomId();
        const res = await a.post('/api/rooms', { id }).expect(201);
        expect(res.body).to.deep.equal({ room: { id, name: id, private: false, owner: a.user.username } });
        const named = await a.post('/api/rooms', { id: uniqueRoomId(), name: 'Book club 📚', private: false }).expect(201);
        expect(named.body.room.name).to.equal('Book club 📚');
        const b = await h.user();
        const seen = await listRooms(b);
        expect(seen).to.deep.include(res.body.room);
        expect(seen).to.deep.include(named.body.room);
        // general first, then by id.
        expect(seen[0]!.id).to.equal('general');
        const rest = seen.slice(1).map((r) => r.id);
        expect(rest).to.deep.equal([...rest].sort());
      });

      it('answers 409 room_exists for a taken id, whoever asks, and keeps the first room', async () => {
        const a = await h.user();
        const b = await h.user();
        const room = await h.room(a, { name: 'first' });
        expectError(await b.post('/api/rooms', { id: room.id, name: 'second', private: true }).expect(409), 'room_exists');
        expectError(await a.post('/api/rooms', { id: room.id }).expect(409), 'room_exists');
        expect((await listRooms(b)).filter((r) => r.id === room.id)).to.deep.equal([room]);
      });

      it('answers 400 bad_request for malformed bodies and creates nothing', async () => {
        const a = await h.user();
        const before = await listRooms(a);
        const bodies: unknown[] = [
          {},
          { id: '' },
          { id: 'Upper' },
          { id: 'with space' },
          { id: 'under_score' },
          { id: 'a'.repeat(33) },
          { id: 'dm:x:y' },
          { id: 42 },
          { id: ['abc'] },
          { id: uniqueRoomId(), name: '' },
          { id: uniqueRoomId(), name: '   ' },
          { id: uniqueRoomId(), name: 'n'.repeat(65) },
          { id: uniqueRoomId(), name: 5 },
          { id: uniqueRoomId(), private: 'yes' },
          { id: uniqueRoomId(), private: 1 },
          [uniqueRoomId()],
        ];
        for (const body of bodies) {
          const res = await a.agent.post('/api/rooms').set('x-csrf-token', a.csrf).send(body as object);
          expect(res.status, JSON.stringify(body)).to.equal(400);
          expectError(res, 'bad_request');
        }
        const junk = await a.agent.post('/api/rooms').set('x-csrf-token', a.csrf).set('content-type', 'application/json').send('{"id":');
        expect(junk.status).to.equal(400);
        expect(await listRooms(a)).to.deep.equal(before);
      });

      it('needs a login (401) and the CSRF token (403 csrf)', async () => {
        const anon = new TestClient(h.url);
        await anon.fetchCsrf();
        expectError(await anon.post('/api/rooms', { id: uniqueRoomId() }).expect(401), 'unauthorized');
        await anon.agent.get('/api/rooms').expect(401);
        await anon.agent.get('/api/rooms/general/messages').expect(401);
        const a = await h.user();
        const id = uniqueRoomId();
        expectError(await a.agent.post('/api/rooms').send({ id }).expect(403), 'csrf');
        expect((await listRooms(a)).map((r) => r.id)).to.not.include(id);
      });
    });

    describe('private rooms', () => {
      it('keep a stranger out of every door: list, join, socket and HTTP history, send, typing, reactions', async () => {
        const owner = await h.user();
        const stranger = await h.user();
        const secret = await h.room(owner, { private: true });
        const so = await h.openIn(owner, secret.id);
        const msg = ok(await emitAck<MessageAck>(so, 'message:send', { roomId: secret.id, text: 'top secret' })).message;

        expect((await listRooms(owner)).map((r) => r.id)).to.include(secret.id);
        expect((await listRooms(stranger)).map((r) => r.id)).to.not.include(secret.id);
        const ss = await h.open(stranger);
        const leaked = arrivesWithin(ss, 'message:new', 300);
        fails(await emitAck(ss, 'room:join', { roomId: secret.id }), 'forbidden');
        fails(await emitAck(ss, 'room:join', { roomId: secret.id, since: '0-0' }), 'forbidden');
        fails(await emitAck(ss, 'message:history', { roomId: secret.id }), 'forbidden');
        fails(await emitAck(ss, 'message:send', { roomId: secret.id, text: 'let me in' }), 'forbidden');
        fails(await emitAck(ss, 'typing', { roomId: secret.id, typing: true }), 'forbidden');
        fails(await emitAck(ss, 'reaction:toggle', { roomId: secret.id, messageId: msg.id, emoji: '👍' }), 'forbidden');
        expectError(await stranger.agent.get(`/api/rooms/${secret.id}/messages`).expect(403), 'forbidden');
        expectError(await stranger.agent.get(`/api/rooms/${secret.id}/messages?limit=5&before=${msg.id}`).expect(403), 'forbidden');
        ok(await emitAck(so, 'message:send', { roomId: secret.id, text: 'still secret' }));
        expect(await leaked).to.equal(false);
        expect((await h.roomMessages(owner, secret.id)).map((m) => m.text)).to.deep.equal(['top secret', 'still secret']);
      });

      it('let a member added by the owner in: listed, join with history, send, read over HTTP, receive', async () => {
        const owner = await h.user();
        const friend = await h.user();
        const secret = await h.room(owner, { private: true });
        const so = await h.openIn(owner, secret.id);
        const first = ok(await emitAck<MessageAck>(so, 'message:send', { roomId: secret.id, text: 'before you came' })).message;
        await owner.post(`/api/rooms/${secret.id}/members`, { username: friend.user.username }).expect(204);
        // Adding twice is harmless.
        await owner.post(`/api/rooms/${secret.id}/members`, { username: friend.user.username }).expect(204);

        expect(await listRooms(friend)).to.deep.include(secret);
        const sf = await h.open(friend);
        const join = ok(await emitAck<JoinAck>(sf, 'room:join', { roomId: secret.id }));
        expect(join.room).to.deep.equal(secret);
        expect(join.history).to.deep.equal([first]);
        const toOwner = eventWhere<Message>(so, 'message:new', (m) => m.text === 'hello in here');
        const sent = ok(await emitAck<MessageAck>(sf, 'message:send', { roomId: secret.id, text: 'hello in here' })).message;
        expect(await toOwner).to.deep.equal(sent);
        const toFriend = eventWhere<Message>(sf, 'message:new', (m) => m.text === 'welcome');
        const reply = ok(await emitAck<MessageAck>(so, 'message:send', { roomId: secret.id, text: 'welcome' })).message;
        expect(await toFriend).to.deep.equal(reply);
        expect(await h.roomMessages(friend, secret.id)).to.deep.equal([first, sent, reply]);
        expect(ok(await emitAck<MessagesAck>(sf, 'message:history', { roomId: secret.id })).messages).to.deep.equal([first, sent, reply]);
      });

      it('remove a member: every socket leaves at once and gets room:removed, stays connected, and is then shut out', async () => {
        const owner = await h.user();
        const member = await h.user();
        const secret = await h.room(owner, { private: true });
        await owner.post(`/api/rooms/${secret.id}/members`, { username: member.user.username }).expect(204);
        const so = await h.openIn(owner, secret.id);
        const tab1 = await h.openIn(member, secret.id);
        const tab2 = await h.openIn(member, secret.id);
        const idle = await h.open(member); // a tab that never joined it: told too
        const tabs = [tab1, tab2, idle];
        const removed = tabs.map((s) => nextEvent<{ roomId: string }>(s, 'room:removed'));
        const drops = tabs.map((s) => collect(s, 'disconnect'));
        const typingAtOwner = arrivesWithin(so, 'typing', 300);

        await owner.delete(`/api/rooms/${secret.id}/members/${member.user.username}`).expect(204);
        // Out at once: right after the 204, the room is closed to them (typing has no store check of its own).
        fails(await emitAck(tab1, 'typing', { roomId: secret.id, typing: true }), 'forbidden');
        expect(await typingAtOwner).to.equal(false);
        for (const r of await Promise.all(removed)) expect(r).to.deep.equal({ roomId: secret.id });

        const newsAtMember = tabs.map((s) => arrivesWithin(s, 'message:new', 300));
        ok(await emitAck(so, 'message:send', { roomId: secret.id, text: 'they are gone' }));
        expect(await Promise.all(newsAtMember)).to.deep.equal([false, false, false]);

        for (const s of tabs) {
          expect(s.connected).to.equal(true);
          fails(await emitAck(s, 'message:send', { roomId: secret.id, text: 'still here?' }), 'forbidden');
          fails(await emitAck(s, 'room:join', { roomId: secret.id }), 'forbidden');
          fails(await emitAck(s, 'message:history', { roomId: secret.id }), 'forbidden');
          fails(await emitAck(s, 'typing', { roomId: secret.id, typing: false }), 'forbidden');
          // The connection is fine for everything else.
          ok(await emitAck(s, 'presence:list', {}));
        }
        expect(drops.map((d) => d.length)).to.deep.equal([0, 0, 0]);
        expectError(await member.agent.get(`/api/rooms/${secret.id}/messages`).expect(403), 'forbidden');
        expect((await listRooms(member)).map((r) => r.id)).to.not.include(secret.id);
        expect((await h.roomMessages(owner, secret.id)).map((m) => m.text)).to.deep.equal(['they are gone']);

        // Added back, they can join again.
        await owner.post(`/api/rooms/${secret.id}/members`, { username: member.user.username }).expect(204);
        const back = ok(await emitAck<JoinAck>(tab1, 'room:join', { roomId: secret.id }));
        expect(back.history.map((m) => m.text)).to.deep.equal(['they are gone']);
      });

      it('do not let a room:join that was in flight during the removal outlive it', async () => {
        const owner = await h.user();
        const member = await h.user();
        const secret = await h.room(owner, { private: true });
        await owner.post(`/api/rooms/${secret.id}/members`, { username: member.user.username }).expect(204);
        const so = await h.openIn(owner, secret.id);
        const sm = await h.open(member);
        // Hold the join after the socket joined, just before its second access check
        // (the room lookup after the first), remove the member, then let it finish.
        const chat = h.server.stores.chat;
        const originalGetRoom = chat.getRoom;
        let reached!: () => void;
        const atRecheck = new Promise<void>((r) => (reached = r));
        let release!: () => void;
        const gate = new Promise<void>((r) => (release = r));
        let lookups = 0;
        chat.getRoom = async (...args: Parameters<typeof originalGetRoom>) => {
          if (args[0] === secret.id && ++lookups === 2) {
            reached();
            await gate;
          }
          return originalGetRoom.apply(chat, args);
        };
        let join: Promise<Ack>;
        try {
          join = emitAck<Ack>(sm, 'room:join', { roomId: secret.id });
          await atRecheck;
          await owner.delete(`/api/rooms/${secret.id}/members/${member.user.username}`).expect(204);
          release();
          fails(await join, 'forbidden');
        } finally {
          chat.getRoom = originalGetRoom;
          release();
        }
        const leaked = arrivesWithin(sm, 'message:new', 300);
        ok(await emitAck(so, 'message:send', { roomId: secret.id, text: 'members only' }));
        expect(await leaked).to.equal(false);
        fails(await emitAck(sm, 'typing', { roomId: secret.id, typing: true }), 'forbidden');
      });

      it('leave other users and other rooms alone when removing a member', async () => {
        const owner = await h.user();
        const member = await h.user();
        const other = await h.user();
        const secret = await h.room(owner, { private: true });
        const open = await h.room(owner);
        for (const u of [member, other]) await owner.post(`/api/rooms/${secret.id}/members`, { username: u.user.username }).expect(204);
        const sm = await h.openIn(member, open.id);
        ok(await emitAck(sm, 'room:join', { roomId: secret.id }));
        const sOther = await h.openIn(other, secret.id);
        const otherTold = arrivesWithin(sOther, 'room:removed', 300);
        const memberTold = eventWhere<{ roomId: string }>(sm, 'room:removed', (e) => e.roomId === secret.id);
        await owner.delete(`/api/rooms/${secret.id}/members/${member.user.username}`).expect(204);
        await memberTold;
        expect(await otherTold).to.equal(false);
        // Still in the public room, and the other member still in the private one.
        ok(await emitAck(sm, 'message:send', { roomId: open.id, text: 'still in the open room' }));
        ok(await emitAck(sOther, 'message:send', { roomId: secret.id, text: 'still a member' }));
      });
    });

    describe('member management', () => {
      it('is for the owner only: 403 forbidden for members and strangers, whatever they try', async () => {
        const owner = await h.user();
        const member = await h.user();
        const stranger = await h.user();
        const secret = await h.room(owner, { private: true });
        await owner.post(`/api/rooms/${secret.id}/members`, { username: member.user.username }).expect(204);
        for (const actor of [member, stranger]) {
          expectError(await actor.post(`/api/rooms/${secret.id}/members`, { username: stranger.user.username }).expect(403), 'forbidden');
          expectError(await actor.post(`/api/rooms/${secret.id}/members`, { username: actor.user.username }).expect(403), 'forbidden');
          expectError(await actor.delete(`/api/rooms/${secret.id}/members/${member.user.username}`).expect(403), 'forbidden');
          expectError(await actor.delete(`/api/rooms/${secret.id}/members/${owner.user.username}`).expect(403), 'forbidden');
        }
        // Nothing changed: the member is in, the stranger is out.
        expect((await listRooms(member)).map((r) => r.id)).to.include(secret.id);
        expect((await listRooms(stranger)).map((r) => r.id)).to.not.include(secret.id);
      });

      it('answers 404 not_found for an unknown user or room, 400 for malformed input, and the owner cannot be removed', async () => {
        const owner = await h.user();
        const other = await h.user();
        const room = await h.room(owner, { private: true });
        expectError(await owner.post(`/api/rooms/${room.id}/members`, { username: 'nobody_like_this_3' }).expect(404), 'not_found');
        expectError(await owner.delete(`/api/rooms/${room.id}/members/nobody_like_this_3`).expect(404), 'not_found');
        const ghost = uniqueRoomId('ghost');
        expectError(await owner.post(`/api/rooms/${ghost}/members`, { username: other.user.username }).expect(404), 'not_found');
        expectError(await owner.delete(`/api/rooms/${ghost}/members/${other.user.username}`).expect(404), 'not_found');
        expectError(await owner.agent.get(`/api/rooms/${ghost}/messages`).expect(404), 'not_found');
        for (const body of [{}, { username: 'X' }, { username: 'ab' }, { username: 7 }]) {
          const res = await owner.post(`/api/rooms/${room.id}/members`, body);
          expect(res.status, JSON.stringify(body)).to.equal(400);
          expectError(res, 'bad_request');
        }
        expectError(await owner.delete(`/api/rooms/${room.id}/members/Not-Valid`).expect(400), 'bad_request');
        expectError(await owner.post(`/api/rooms/Bad%20Id/members`, { username: other.user.username }).expect(400), 'bad_request');
        expectError(await owner.delete(`/api/rooms/${room.id}/members/${owner.user.username}`).expect(400), 'bad_request');
        expect((await listRooms(owner)).map((r) => r.id)).to.include(room.id);
        // Member management needs the CSRF token too.
        expectError(await owner.agent.post(`/api/rooms/${room.id}/members`).send({ username: other.user.username }).expect(403), 'csrf');
        expect((await listRooms(other)).map((r) => r.id)).to.not.include(room.id);
      });
    });

    describe('GET /api/rooms/:id/messages', () => {
      it('pages forward with after, and answers hasMore for before, after and both', async () => {
        const a = await h.user();
        const room = await h.room(a);
        const seeded = await seedRoom(h.server, room.id, a.user, 130);
        const get = async (q: string) => (await a.agent.get(`/api/rooms/${room.id}/messages${q}`).expect(200)).body as { messages: Message[]; hasMore: boolean };
        const expectPage = async (q: string, expected: Message[], hasMore: boolean) => {
          expect(await get(q), q).to.deep.equal({ messages: expected, hasMore });
        };
        await expectPage('', seeded.slice(80), true);
        await expectPage(`?limit=100&before=${seeded[100]!.id}`, seeded.slice(0, 100), false);
        await expectPage(`?after=${seeded[9]!.id}&limit=100`, seeded.slice(10, 110), true);
        await expectPage(`?after=${seeded[109]!.id}&limit=100`, seeded.slice(110), false);
        await expectPage(`?after=${seeded[9]!.id}&before=${seeded[20]!.id}&limit=5`, seeded.slice(10, 15), true);
        await expectPage(`?after=${seeded[9]!.id}&before=${seeded[20]!.id}`, seeded.slice(10, 20), false);
        await expectPage(`?after=${seeded.at(-1)!.id}`, [], false);
        for (const q of ['?after=nope', '?after=1-0&after=2-0', `?after=${seeded[0]!.id}&limit=101`]) {
          const res = await a.agent.get(`/api/rooms/${room.id}/messages${q}`);
          expect(res.status, q).to.equal(400);
          expectError(res, 'bad_request');
        }
      });

      it('pages with before and limit, oldest first; limit above 100 and malformed queries are 400', async () => {
        const a = await h.user();
        const room = await h.room(a);
        const seeded = await seedRoom(h.server, room.id, a.user, 130);
        const get = async (q: string) => (await a.agent.get(`/api/rooms/${room.id}/messages${q}`).expect(200)).body.messages as Message[];
        expect(ids(await get(''))).to.deep.equal(ids(seeded.slice(80)));
        expect(ids(await get('?limit=100'))).to.deep.equal(ids(seeded.slice(30)));
        const collected: Message[] = [];
        let before = '';
        for (;;) {
          const page = await get(`?limit=40${before && `&before=${before}`}`);
          if (!page.length) break;
          collected.unshift(...page);
          before = page[0]!.id;
        }
        expect(ids(collected)).to.deep.equal(ids(seeded));
        expect(await get('?before=0-0')).to.deep.equal([]);
        for (const q of ['?limit=101', '?limit=0', '?limit=-1', '?limit=abc', '?limit=1e2', '?limit=10&limit=20', '?before=nope', '?before=1-0&before=2-0', '?limit=5.5']) {
          const res = await a.agent.get(`/api/rooms/${room.id}/messages${q}`);
          expect(res.status, q).to.equal(400);
          expectError(res, 'bad_request');
        }
        expectError(await a.agent.get('/api/rooms/NOT_A_ROOM/messages').expect(400), 'bad_request');
      });
    });

    describe('room:join {since}', () => {
      it('gives a reconnecting client exactly the messages it missed: no gaps, no duplicates, clientMsgId echoed', async () => {
        const a = await h.user();
        const b = await h.user();
        const room = await h.room(a);
        const sb = await h.openIn(b, room.id);
        for (let i = 0; i < 3; i++) ok(await emitAck(sb, 'message:send', { roomId: room.id, text: `seen ${i}` }));

        let sa = await h.open(a);
        const seen = ok(await emitAck<JoinAck>(sa, 'room:join', { roomId: room.id })).history;
        expect(seen.map((m) => m.text)).to.deep.equal(['seen 0', 'seen 1', 'seen 2']);
        const live = eventWhere<Message>(sa, 'message:new', (m) => m.text === 'seen live');
        const lastLive = ok(await emitAck<MessageAck>(sb, 'message:send', { roomId: room.id, text: 'seen live' })).message;
        expect((await live).id).to.equal(lastLive.id);
        const lastSeen = lastLive.id;
        sa.close();

        const missed: Message[] = [];
        for (let i = 0; i < 12; i++) {
          missed.push(ok(await emitAck<MessageAck>(sb, 'message:send', { roomId: room.id, text: `missed ${i}`, clientMsgId: `cm-${i}` })).message);
        }
        sa = await h.open(a);
        const caught = ok(await emitAck<JoinAck>(sa, 'room:join', { roomId: room.id, since: lastSeen })).history;
        expect(caught).to.deep.equal(missed);
        expect(caught.map((m) => m.clientMsgId)).to.deep.equal(missed.map((_, i) => `cm-${i}`));
        // Caught up: since the newest, nothing; and live messages flow again.
        expect(ok(await emitAck<JoinAck>(sa, 'room:join', { roomId: room.id, since: missed.at(-1)!.id })).history).to.deep.equal([]);
        const next = eventWhere<Message>(sa, 'message:new', (m) => m.text === 'after catch-up');
        const after = ok(await emitAck<MessageAck>(sb, 'message:send', { roomId: room.id, text: 'after catch-up' })).message;
        expect(await next).to.deep.equal(after);
        const all = await h.roomMessages(a, room.id);
        expect(ids(all)).to.deep.equal([...ids(seen), lastSeen, ...ids(missed), after.id]);
      });

      it('from a since older than every message, answers the oldest 100 of the room and hasMore (not all of them)', async () => {
        const a = await h.user();
        const room = await h.room(a);
        const seeded = await seedRoom(h.server, room.id, a.user, 260);
        const s = await h.open(a);
        const fromStart = ok(await emitAck<JoinAck>(s, 'room:join', { roomId: room.id, since: '0-0' }));
        expect(ids(fromStart.history)).to.deep.equal(ids(seeded.slice(0, 100)));
        expect(fromStart.hasMore).to.equal(true);
        // Without since, the last 50.
        expect(ids(ok(await emitAck<JoinAck>(s, 'room:join', { roomId: room.id })).history)).to.deep.equal(ids(seeded.slice(210)));
      });

      it('stores the joined room as lastRoomId (GET /api/me)', async () => {
        const a = await h.user();
        const room = await h.room(a);
        await h.openIn(a, room.id);
        const me = await a.agent.get('/api/me').expect(200);
        expect(me.body.lastRoomId).to.equal(room.id);
        const ack: Ack = await emitAck(await h.open(a), 'room:join', { roomId: uniqueRoomId('nope') });
        fails(ack, 'not_found');
        expect((await a.agent.get('/api/me').expect(200)).body.lastRoomId).to.equal(room.id);
      });
    });
  });
}
