import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import type { Socket } from 'socket.io-client';
import { clientEventSchemas } from '../../src/realtime/handlers/index.js';
import type { Message, Room, User } from '../../src/chat/types.js';
import { ChatHarness, eventWhere, fails, ok, SOCKET_CODES, uniqueRoomId, type Ack, type JoinAck, type MessageAck, type MessagesAck } from '../helpers/chat.js';
import { disconnected, emitAck, type TestClient } from '../helpers/client.js';
import { BACKENDS } from '../helpers/server.js';
import { needs } from '../support/services.js';

/*
 * Thousands of random and hostile payloads to every client event (and to
 * unknown ones), from a seeded PRNG so that a failure reproduces:
 *
 *   FUZZ_SEED=1234 FUZZ_EVENTS=5000 npx mocha ... test/integration/chat-fuzz.test.ts
 *
 * Afterwards: the process is healthy, the fuzzing sockets were never
 * disconnected, every ack was well-formed (and none was `internal`), and no
 * stored data changed except by events that were accepted.
 *
 * Payloads stay under Socket.IO's maxHttpBufferSize (64 KiB): above it the
 * server closes the connection by design; that, and packets Socket.IO itself
 * cannot decode, are covered separately at the end.
 */

const SEED = Number(process.env.FUZZ_SEED ?? 20240611);
const EVENTS = Number(process.env.FUZZ_EVENTS ?? 5000);
const BATCH = 24;
/** Bytes of one payload, JSON plus binary attachments; well below the 64 KiB frame limit. */
const MAX_PAYLOAD_BYTES = 40_000;

const KNOWN = Object.keys(clientEventSchemas) as Array<keyof typeof clientEventSchemas>;
/** Names socket.io-client refuses to emit (it throws); everything else goes. */
const CLIENT_RESERVED = new Set(['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener']);
const UNKNOWN_EVENTS = [
  'error',
  'session',
  'session:ended',
  'message:new',
  'dm:new',
  'presence',
  'reaction',
  'room:removed',
  'room:create',
  'admin:wipe',
  'message:delete',
  '__proto__',
  'constructor',
  'hasOwnProperty',
  'toString',
  'then',
  '',
  ' ',
  'room:join ',
  'ROOM:JOIN',
  'typing\u0000',
  'x'.repeat(5000),
];
const NASTY_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', 'toJSON', 'then', 'length', '0', ''];
const IDENTITY_KEYS = ['user_id', 'userId', 'user', 'from', 'username', 'owner', 'id', 'ts', 'sid', 'isAdmin'];

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return {
    next,
    int,
    chance: (p: number) => next() < p,
    pick: <T>(xs: readonly T[]): T => xs[int(xs.length)]!,
  };
}
type Rng = ReturnType<typeof prng>;

/** An own enumerable property, even for `__proto__` (plain assignment would set the prototype). */
function put(o: Record<string, unknown>, k: string, v: unknown) {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

/** What the fuzz knows about the world, to aim some payloads at real targets. */
interface World {
  rooms: string[]; // valid ids: general, own, private of someone else, unknown
  usernames: string[]; // fuzzer, victim, other, unknown
  messageIds: string[];
}

function randomString(r: Rng): string {
  const alphabets = ['abcxyz019-_', ' \t\n\r', '<>&"\'`${}', '\u0000\u0001\u001f\u007f', 'éü中文ﷺ', '😀🎉👍🏽‍', '\u200b\u202e\ufeff', '\ud800\udc00\udfff\ud83d'];
  const chars = [...r.pick(alphabets) + r.pick(alphabets)];
  let s = '';
  const n = r.int(40);
  for (let i = 0; i < n; i++) s += r.pick(chars);
  return s;
}

function stringPool(r: Rng, w: World): string {
  const pool = [
    '',
    ' ',
    'general',
    'General',
    'room:general',
    '../../etc/passwd',
    '*',
    '%s%n',
    '$where',
    '{"$gt":""}',
    '<script>alert(1)</script>',
    '0-0',
    '1-0',
    '-1',
    '9999999999999999-9999999999',
    '18446744073709551616-0',
    'NaN',
    'null',
    'undefined',
    'true',
    '__proto__',
    'constructor',
    'a'.repeat(33),
    '😀',
    '\ud83d',
    'x'.repeat(2000),
    'y'.repeat(2001),
    ' '.repeat(3000),
    ...w.rooms,
    ...w.usernames,
    ...w.messageIds,
  ];
  const roll = r.next();
  if (roll < 0.6) return r.pick(pool);
  if (roll < 0.95) return randomString(r);
  return r.pick(['z', ' ', '😀', 'ab']).repeat(1 + r.int(12_000));
}

function randomBuffer(r: Rng): Buffer | Uint8Array {
  const n = r.chance(0.9) ? r.int(512) : r.int(16_000);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = r.int(256);
  return r.chance(0.2) ? new Uint8Array(b) : b;
}

function deepNest(r: Rng, leaf: unknown): unknown {
  const depth = 50 + r.int(1500);
  let v = leaf;
  const asArray = r.chance(0.5);
  for (let i = 0; i < depth; i++) v = asArray ? [v] : { a: v };
  return v;
}

function hostile(r: Rng, w: World, depth = 0): unknown {
  const roll = r.int(depth > 2 ? 9 : 13);
  switch (roll) {
    case 0:
      return null;
    case 1:
      return undefined;
    case 2:
      return r.chance(0.5);
    case 3:
      return r.pick([0, -0, 1, -1, 1.5, 100, 101, 2 ** 31, 2 ** 53 + 2, -(2 ** 53), 1e308, -1e308, Number.NaN, Infinity, -Infinity, Number.MIN_VALUE]);
    case 4:
    case 5:
    case 6:
      return stringPool(r, w);
    case 7:
      return r.int(1_000_000) - 500_000;
    case 8:
      return randomBuffer(r);
    case 9: {
      const n = r.int(6);
      return Array.from({ length: n }, () => hostile(r, w, depth + 1));
    }
    case 10:
    case 11: {
      const o: Record<string, unknown> = {};
      const n = r.int(6);
      for (let i = 0; i < n; i++) put(o, r.chance(0.5) ? r.pick(NASTY_KEYS) : stringPool(r, w).slice(0, 40), hostile(r, w, depth + 1));
      return o;
    }
    default:
      return deepNest(r, hostile(r, w, 3));
  }
}

/** A payload the schema accepts, aimed at the world's real rooms, users and messages. */
function validPayload(r: Rng, w: World, event: (typeof KNOWN)[number]): Record<string, unknown> {
  const room = () => r.pick(w.rooms);
  const text = () => r.pick(['hello', '  padded  ', '<b>bold</b> & co', '😀🎉', 'line\nbreak', 'z'.repeat(1 + r.int(2000))]);
  const maybe = (o: Record<string, unknown>) => (r.chance(0.5) ? o : {});
  switch (event) {
    case 'room:join':
      return { roomId: room(), ...maybe({ since: r.pick(w.messageIds) }) };
    case 'room:leave':
      return { roomId: room() };
    case 'message:send':
      return { roomId: room(), text: text(), ...maybe({ clientMsgId: `fz-${r.int(1e9)}` }) };
    case 'message:history':
      return { roomId: room(), ...maybe({ before: r.pick(w.messageIds) }), ...maybe({ after: r.pick(w.messageIds) }), ...maybe({ limit: 1 + r.int(100) }) };
    case 'typing':
      return { roomId: room(), typing: r.chance(0.5) };
    case 'reaction:toggle':
      return { roomId: room(), messageId: r.pick(w.messageIds), emoji: r.pick(['👍', ':tada:', '❤️', 'x', '🧪🧪']) };
    case 'dm:send':
      return { to: r.pick(w.usernames), text: text(), ...maybe({ clientMsgId: `fz-${r.int(1e9)}` }) };
    case 'dm:history':
      return { with: r.pick(w.usernames), ...maybe({ before: r.pick(w.messageIds) }), ...maybe({ limit: 1 + r.int(100) }) };
    case 'presence:list':
      return {};
  }
}

function payloadFor(r: Rng, w: World, event: string): unknown {
  const known = (KNOWN as string[]).includes(event);
  const roll = r.next();
  if (known && roll < 0.55) {
    const p = validPayload(r, w, event as (typeof KNOWN)[number]);
    if (roll < 0.2) return p;
    if (roll < 0.3) {
      // Identity claims and other junk keys next to a valid payload.
      for (let i = 0; i < 1 + r.int(3); i++) put(p, r.pick([...IDENTITY_KEYS, ...NASTY_KEYS]), r.chance(0.5) ? r.pick(w.usernames) : hostile(r, w, 1));
      return p;
    }
    // One to three mutations of a valid payload.
    for (let i = 0; i < 1 + r.int(3); i++) {
      const keys = Object.keys(p);
      const m = r.int(4);
      if (m === 0 && keys.length) put(p, r.pick(keys), hostile(r, w, 1));
      else if (m === 1 && keys.length) delete p[r.pick(keys)];
      else if (m === 2) put(p, r.pick(NASTY_KEYS), hostile(r, w, 1));
      else if (keys.length) put(p, r.pick(keys), stringPool(r, w));
    }
    return r.chance(0.1) ? [p] : p;
  }
  return hostile(r, w);
}

/** Rough bytes on the wire: JSON text plus binary attachments. */
function wireSize(v: unknown): number {
  let binary = 0;
  const json = JSON.stringify(v, (_k, x: unknown) => {
    if (x instanceof Uint8Array) {
      binary += x.byteLength;
      return 0;
    }
    if (x && typeof x === 'object' && (x as { type?: unknown }).type === 'Buffer' && Array.isArray((x as { data?: unknown }).data)) {
      binary += (x as { data: unknown[] }).data.length;
      return 0;
    }
    return x;
  });
  return (json?.length ?? 0) * 3 + binary; // worst case 3 bytes per UTF-16 unit in UTF-8
}

/** What the server sees of a (non-binary) payload after the JSON round trip. */
const overTheWire = (v: unknown): unknown => (v === undefined ? undefined : JSON.parse(JSON.stringify(v) ?? 'null'));

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const keysOf = (v: object) => Object.keys(v).sort();

function isMessage(m: unknown): m is Message {
  return (
    isObject(m) &&
    typeof m.id === 'string' &&
    typeof m.roomId === 'string' &&
    typeof m.text === 'string' &&
    typeof m.ts === 'string' &&
    isObject(m.user) &&
    typeof m.user.id === 'string'
  );
}

/** Why an ack is not well-formed for that event, or null when it is. */
function ackProblem(event: string, ack: unknown, me: User): string | null {
  if (!isObject(ack)) return 'not an object';
  if (ack.ok === false) {
    if (keysOf(ack).join() !== 'error,ok') return `failure keys ${keysOf(ack).join()}`;
    const error = ack.error;
    if (!isObject(error) || keysOf(error).join() !== 'code,message') return 'error is not {code,message}';
    if (!(SOCKET_CODES as readonly unknown[]).includes(error.code)) return `unknown code ${String(error.code)}`;
    if (typeof error.message !== 'string') return 'message is not a string';
    if (error.code === 'internal') return `internal error: ${error.message}`;
    if (!(KNOWN as string[]).includes(event) && error.code !== 'bad_request') return `unknown event answered ${String(error.code)}`;
    return null;
  }
  if (ack.ok !== true) return 'ok is neither true nor false';
  const keys = keysOf(ack).join();
  switch (event) {
    case 'room:join':
      return keys === 'hasMore,history,ok,room' && isObject(ack.room) && Array.isArray(ack.history) && ack.history.every(isMessage) && typeof ack.hasMore === 'boolean'
        ? null
        : 'bad room:join ack';
    case 'room:leave':
    case 'typing':
      return keys === 'ok' ? null : `bad ${event} ack`;
    case 'message:send':
    case 'dm:send':
      if (keys !== 'message,ok' || !isMessage(ack.message)) return `bad ${event} ack`;
      return JSON.stringify(ack.message.user) === JSON.stringify(me) ? null : 'message sent as someone else';
    case 'message:history':
    case 'dm:history':
      return keys === 'hasMore,messages,ok' && Array.isArray(ack.messages) && ack.messages.every(isMessage) && typeof ack.hasMore === 'boolean'
        ? null
        : `bad ${event} ack`;
    case 'reaction:toggle':
      return keys === 'ok,reactions' &&
        isObject(ack.reactions) &&
        Object.values(ack.reactions).every((u) => Array.isArray(u) && u.every((x) => typeof x === 'string'))
        ? null
        : 'bad reaction:toggle ack';
    case 'presence:list':
      return keys === 'ok,online' && Array.isArray(ack.online) ? null : 'bad presence:list ack';
    default:
      return `unknown event ${JSON.stringify(event.slice(0, 20))} answered ok`;
  }
}

const dmId = (a: string, b: string) => `dm:${[a, b].sort().join(':')}`;

for (const backend of BACKENDS) {
  describe(`chat fuzz (${backend})`, function () {
    needs(backend);
    this.timeout(90_000);
    const h = new ChatHarness(backend);
    before(() => h.start());
    afterEach(() => h.closeSockets());
    after(() => h.stop());

    /** Every message of a room, paging back over HTTP. */
    async function allRoomMessages(reader: TestClient, roomId: string): Promise<Message[]> {
      const out: Message[] = [];
      let before = '';
      for (;;) {
        const page = await h.roomMessages(reader, roomId, `limit=100${before && `&before=${before}`}`);
        out.unshift(...page);
        if (page.length < 100) return out;
        before = page[0]!.id;
      }
    }
    async function allDms(s: Socket, other: string): Promise<Message[]> {
      const out: Message[] = [];
      let before: string | undefined;
      for (;;) {
        const page = ok(await emitAck<MessagesAck>(s, 'dm:history', { with: other, limit: 100, ...(before && { before }) })).messages;
        out.unshift(...page);
        if (page.length < 100) return out;
        before = page[0]!.id;
      }
    }

    it(`survives ${EVENTS} random and hostile events (seed ${SEED}) with well-formed acks and no unaccepted writes`, async () => {
      const fuzzer = await h.user('Fuzzer');
      const victim = await h.user('Victim');
      const other = await h.user();
      const own = await h.room(fuzzer);
      const secret = await h.room(victim, { private: true });
      const unknownRoom = uniqueRoomId('ghost');

      const sv = await h.openIn(victim, 'general');
      ok(await emitAck(sv, 'room:join', { roomId: secret.id }));
      ok(await emitAck(sv, 'room:join', { roomId: own.id }));
      const reader = await h.open(fuzzer); // never fuzzed: reads DMs afterwards
      const seedIds: string[] = [];
      for (const roomId of ['general', secret.id, own.id]) {
        seedIds.push(ok(await emitAck<MessageAck>(sv, 'message:send', { roomId, text: `seed in ${roomId}` })).message.id);
      }
      seedIds.push(ok(await emitAck<MessageAck>(sv, 'dm:send', { to: fuzzer.user.username, text: 'seed dm' })).message.id);

      const fuzzSockets = [await h.openIn(fuzzer, 'general'), await h.openIn(fuzzer, own.id)];
      const socketIds = fuzzSockets.map((s) => s.id);
      const drops: string[] = [];
      for (const s of fuzzSockets) {
        s.on('disconnect', (reason) => drops.push(`disconnect: ${reason}`));
        s.on('session:ended', (e: unknown) => drops.push(`session:ended ${JSON.stringify(e)}`));
      }

      const world: World = {
        rooms: ['general', own.id, secret.id, unknownRoom],
        usernames: [fuzzer.user.username, victim.user.username, other.user.username, 'nobody_here_at_all'],
        messageIds: [...seedIds, '0-0', '1-0', '9999999999999999-0'],
      };
      const roomsOf = async (c: TestClient) => (await c.agent.get('/api/rooms').expect(200)).body.rooms as Room[];
      const conversations = {
        general: 'general',
        own: own.id,
        secret: secret.id,
        dmVictim: dmId(fuzzer.user.username, victim.user.username),
        dmOther: dmId(fuzzer.user.username, other.user.username),
        dmSelf: dmId(fuzzer.user.username, fuzzer.user.username),
      };
      // Messages without their reaction maps: accepted reaction toggles may change those.
      const bare = (messages: Message[]) => messages.map(({ reactions: _, ...m }) => m);
      const snapshot = async () => ({
        [conversations.general]: bare(await allRoomMessages(victim, 'general')),
        [conversations.own]: bare(await allRoomMessages(victim, own.id)),
        [conversations.secret]: bare(await allRoomMessages(victim, secret.id)),
        [conversations.dmVictim]: bare(await allDms(reader, victim.user.username)),
        [conversations.dmOther]: bare(await allDms(reader, other.user.username)),
        [conversations.dmSelf]: bare(await allDms(reader, fuzzer.user.username)),
      });
      const before = await snapshot();
      const roomsBefore = { fuzzer: await roomsOf(fuzzer), victim: await roomsOf(victim) };
      const lastRoomBefore = (await fuzzer.agent.get('/api/me').expect(200)).body.lastRoomId as string;

      const r = prng(SEED);
      const problems: string[] = [];
      const accepted = new Map<string, Message[]>(); // conversation → messages acked ok
      const unacked: Array<{ conversation: string; text: string; clientMsgId?: string }> = [];
      const joinedOk = new Set<string>([lastRoomBefore]);
      const tally: Record<string, number> = {};
      const count = (k: string) => (tally[k] = (tally[k] ?? 0) + 1);

      const note = (i: number, event: string, payload: unknown, problem: string) => {
        let shown: string;
        try {
          shown = (JSON.stringify(payload) ?? 'undefined').slice(0, 200);
        } catch {
          shown = String(payload);
        }
        problems.push(`#${i} ${JSON.stringify(event.slice(0, 30))} ${shown}: ${problem}`);
      };

      /** A send without an ack may still be stored if the server accepts it: remember the valid ones. */
      const rememberUnacked = (event: string, payload: unknown) => {
        if (event !== 'message:send' && event !== 'dm:send') return;
        const parsed = clientEventSchemas[event].safeParse(overTheWire(payload));
        if (!parsed.success) return;
        const p = parsed.data as { roomId?: string; to?: string; text: string; clientMsgId?: string };
        const conversation = event === 'dm:send' ? dmId(fuzzer.user.username, p.to!) : p.roomId!;
        unacked.push({ conversation, text: p.text, ...(p.clientMsgId !== undefined && { clientMsgId: p.clientMsgId }) });
      };

      const started = Date.now();
      const logged = await h.captureErrors(async () => {
        for (let i = 0; i < EVENTS; i += BATCH) {
          const batch: Array<Promise<void>> = [];
          for (let j = i; j < Math.min(EVENTS, i + BATCH); j++) {
            const socket = fuzzSockets[j % 2]!;
            let event = r.chance(0.85) ? r.pick(KNOWN) : r.chance(0.7) ? r.pick(UNKNOWN_EVENTS) : randomString(r);
            if (CLIENT_RESERVED.has(event)) event = `${event}!`;
            let payload = payloadFor(r, world, event);
            while (wireSize(payload) > MAX_PAYLOAD_BYTES) payload = payloadFor(r, world, event);
            const mode = r.next();
            if (mode < 0.1) {
              // No ack callback at all.
              rememberUnacked(event, payload);
              if (r.chance(0.5)) socket.emit(event, payload);
              else socket.emit(event, payload, hostile(r, world, 3));
              count('no-ack');
              continue;
            }
            const args = mode < 0.15 ? [] : mode < 0.2 ? [payload, hostile(r, world, 3), hostile(r, world, 3)] : [payload];
            if (args.length === 0) payload = undefined;
            batch.push(
              (socket.timeout(10_000).emitWithAck(event, ...args) as Promise<unknown>).then(
                (ack) => {
                  const problem = ackProblem(event, ack, fuzzer.user);
                  if (problem) return note(j, event, payload, problem);
                  const a = ack as Ack<{ message?: Message; room?: Room }>;
                  count(a.ok ? `${event.slice(0, 20)} ok` : `${a.error.code}`);
                  if (a.ok && a.message) accepted.set(a.message.roomId, [...(accepted.get(a.message.roomId) ?? []), a.message]);
                  if (a.ok && event === 'room:join' && a.room) joinedOk.add(a.room.id);
                },
                (err: Error) => note(j, event, payload, `no ack: ${err.message}`),
              ),
            );
          }
          await Promise.all(batch);
        }
      });
      const fuzzMs = Date.now() - started;
      if (process.env.FUZZ_VERBOSE) {
        const stored = [...accepted.values()].reduce((n, m) => n + m.length, 0);
        console.log(`    fuzz ${backend}: ${EVENTS} events in ${fuzzMs} ms; ${stored} sends accepted, ${unacked.length} valid sends without ack;`, tally);
      }

      expect(problems.slice(0, 10), `${problems.length} problems (seed ${SEED})`).to.deep.equal([]);
      expect(drops, 'fuzzing sockets were dropped').to.deep.equal([]);
      expect(fuzzSockets.map((s) => s.connected)).to.deep.equal([true, true]);
      expect(fuzzSockets.map((s) => s.id)).to.deep.equal(socketIds);
      expect(logged.map((l) => l.msg), 'errors logged during the fuzz').to.deep.equal([]);
      // The fuzz did reach both sides of the handlers.
      expect(tally.bad_request ?? 0, JSON.stringify(tally)).to.be.greaterThan(EVENTS / 4);
      expect(Object.keys(tally).filter((k) => k.endsWith(' ok')).length, JSON.stringify(tally)).to.be.at.least(8);

      // Let sends without an ack finish, then compare what is stored.
      let after = await snapshot();
      for (let stable = 0; stable < 2; ) {
        await sleep(150);
        const again = await snapshot();
        stable = JSON.stringify(again) === JSON.stringify(after) ? stable + 1 : 0;
        after = again;
      }
      for (const [conversation, was] of Object.entries(before)) {
        const now = after[conversation]!;
        expect(now.slice(0, was.length), `${conversation}: old messages changed`).to.deep.equal(was);
        const added = now.slice(was.length);
        const acked = accepted.get(conversation) ?? [];
        const byId = new Map(acked.map((m) => [m.id, m]));
        for (const m of added) {
          const mine = byId.get(m.id);
          if (mine) {
            expect(m, `${conversation}: stored differs from the ack`).to.deep.equal(mine);
            byId.delete(m.id);
            continue;
          }
          const at = unacked.findIndex((u) => u.conversation === conversation && u.text === m.text && u.clientMsgId === m.clientMsgId);
          expect(at, `${conversation}: stored a message nobody was told was accepted: ${JSON.stringify(m).slice(0, 200)}`).to.be.at.least(0);
          unacked.splice(at, 1);
          expect(m.user).to.deep.equal(fuzzer.user);
        }
        expect([...byId.keys()], `${conversation}: acked ok but not stored`).to.deep.equal([]);
      }
      // The send limit held under fire: at most 30 stored per 10 s window the run touched.
      const storedNew = Object.entries(before).reduce((n, [c, was]) => n + after[c]!.length - was.length, 0);
      expect(storedNew, 'sends stored').to.be.at.most(30 * (Math.ceil(fuzzMs / 10_000) + 1));
      for (const [conversation, msgs] of accepted) {
        expect(Object.keys(after), `accepted into an unexpected conversation (${msgs.length})`).to.include(conversation);
      }
      // Nothing reached the private room, and no reaction either.
      expect(after[conversations.secret]).to.deep.equal(before[conversations.secret]);
      const check = ok(await emitAck<Ack<{ reactions: Record<string, string[]> }>>(sv, 'reaction:toggle', { roomId: secret.id, messageId: seedIds[1], emoji: '✅' }));
      expect(check.reactions).to.deep.equal({ '✅': [victim.user.username] });
      // Rooms and membership: unchanged; the session only moved to rooms it really joined.
      expect(await roomsOf(fuzzer)).to.deep.equal(roomsBefore.fuzzer);
      expect(await roomsOf(victim)).to.deep.equal(roomsBefore.victim);
      expect([...joinedOk]).to.include((await fuzzer.agent.get('/api/me').expect(200)).body.lastRoomId);
      fails(await emitAck(fuzzSockets[0]!, 'room:join', { roomId: secret.id }), 'forbidden');

      // Healthy: HTTP answers, the fuzzing sockets still work, and a normal send goes through.
      await fuzzer.agent.get('/healthz').expect(200, { ok: true });
      await fuzzer.agent.get('/readyz').expect(200);
      for (const s of fuzzSockets) ok(await emitAck(s, 'presence:list', {}));
      ok(await emitAck<JoinAck>(fuzzSockets[1]!, 'room:join', { roomId: own.id }));
      const newcomer = await h.user();
      const sn = await h.openIn(newcomer, 'general');
      const seen = eventWhere<Message>(sv, 'message:new', (m) => m.text === 'business as usual');
      const sent = ok(await emitAck<MessageAck>(sn, 'message:send', { roomId: 'general', text: 'business as usual' })).message;
      expect((await seen).id).to.equal(sent.id);
    });

    it('closes only the offending connection for packets over 64 KiB, and answers forged attachments with bad_request', async () => {
      const a = await h.user();
      const room = await h.room(a);
      const bystander = await h.openIn(a, room.id); // the same user's other tab
      const big = await h.openIn(a, room.id);
      // Just under the limit is an ordinary bad_request.
      fails(await emitAck(big, 'message:send', { roomId: room.id, text: 'x'.repeat(60_000) }), 'bad_request');
      expect(big.connected).to.equal(true);
      // Over maxHttpBufferSize: Engine.IO closes the connection by design; nothing is stored.
      const gone = disconnected(big);
      big.emit('message:send', { roomId: room.id, text: 'y'.repeat(70 * 1024) }, () => undefined);
      expect(await gone).to.equal('transport close');

      // A forged binary placeholder makes Socket.IO's own decoder throw ("illegal attachments"):
      // our decoder drops that packet, acks bad_request, and keeps the connection.
      const forged = await h.openIn(a, room.id);
      const forgedAck = await emitAck(forged, 'message:send', { roomId: room.id, text: 'hi', a: { _placeholder: true, num: 7 }, b: Buffer.from('x') });
      expect(forgedAck).to.deep.equal({ ok: false, error: { code: 'bad_request', message: 'malformed payload' } });
      expect(forged.connected).to.equal(true);
      forged.emit('typing', { a: { _placeholder: true, num: 3 }, b: Buffer.from('y') }); // no ack asked: dropped
      ok(await emitAck(forged, 'presence:list', {}));

      // Everyone else is fine.
      expect(bystander.connected).to.equal(true);
      ok(await emitAck(bystander, 'message:send', { roomId: room.id, text: 'still fine' }));
      await a.agent.get('/healthz').expect(200);
      expect((await h.roomMessages(a, room.id)).map((m) => m.text)).to.deep.equal(['still fine']);
      // And the user can simply reconnect.
      ok(await emitAck(await h.openIn(a, room.id), 'presence:list', {}));
    });
  });
}
