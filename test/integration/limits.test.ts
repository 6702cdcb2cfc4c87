import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import request from 'supertest';
import type { Socket } from 'socket.io-client';
import { connectSocket, disconnected, emitAck } from '../helpers/client.js';
import { arrivesWhere, ChatHarness, collect, ok, waitFor, type Ack, type MessageAck } from '../helpers/chat.js';
import { BACKENDS, type TestServer } from '../helpers/server.js';
import { needs } from '../support/services.js';

/*
 * Per-user limits (PROTOCOL.md "Rate limits"): typing, reactions, rooms created,
 * sockets per user and events in flight per socket; and that an event admitted
 * just before its session ended writes nothing.
 */

/**
 * Holds every rate-limit check of a server while closed (as a slow backend would),
 * so that events stay in flight at a known point (before anything is stored or sent).
 */
class Gate {
  private open: Promise<void> = Promise.resolve();
  private release: () => void = () => undefined;
  private closed = false;
  /** Checks that have reached the gate while it was closed. */
  waiting = 0;

  constructor(server: TestServer) {
    const limits = server.app.limits;
    const consume = limits.consume.bind(limits);
    limits.consume = async (...args: Parameters<typeof consume>) => {
      this.waiting += 1;
      await this.open;
      return consume(...args);
    };
    // The handlers spend a point this process holds without waiting (spendNow) before they
    // ask `consume`: while closed, that answers "ask", so that every check waits here.
    const spendNow = limits.spendNow.bind(limits);
    limits.spendNow = (...args: Parameters<typeof spendNow>) => !this.closed && spendNow(...args);
  }

  close() {
    this.waiting = 0;
    this.closed = true;
    this.open = new Promise((resolve) => (this.release = resolve));
  }

  reopen() {
    this.closed = false;
    this.release();
    this.open = Promise.resolve();
  }
}

/** Sends `n` events in batches (well within the in-flight bound) and answers the acks. */
async function burst<T extends object>(socket: Socket, event: string, payload: (i: number) => unknown, n: number): Promise<Ack<T>[]> {
  const acks: Ack<T>[] = [];
  for (let i = 0; i < n; i += 10) {
    const batch = Array.from({ length: Math.min(10, n - i) }, (_, j) => emitAck<Ack<T>>(socket, event, payload(i + j)));
    acks.push(...(await Promise.all(batch)));
  }
  return acks;
}

const codes = (acks: Ack<object>[]) => acks.map((a) => (a.ok ? 'ok' : a.error.code));
const tally = (acks: Ack<object>[]) => codes(acks).reduce<Record<string, number>>((t, c) => ((t[c] = (t[c] ?? 0) + 1), t), {});

for (const backend of BACKENDS) {
  describe(`per-user limits (${backend})`, function () {
    needs(backend);
    this.timeout(30_000);
    const h = new ChatHarness(backend);
    let gate: Gate;
    before(async () => {
      await h.start();
      gate = new Gate(h.server);
    });
    afterEach(() => {
      gate.reopen();
      h.closeSockets();
    });
    after(() => h.stop());

    it('lets 50 typing events per 10 s through, refusing the rest with nothing sent', async () => {
      const alice = await h.user();
      const bob = await h.user();
      const room = await h.room(alice);
      const a = await h.openIn(alice, room.id);
      const b = await h.openIn(bob, room.id);
      const seen = collect(b, 'typing');
      const acks = await burst(a, 'typing', (i) => ({ roomId: room.id, typing: i % 2 === 0 }), 60);
      expect(tally(acks)).to.deep.equal({ ok: 50, rate_limited: 10 });
      await waitFor(() => seen.length >= 50, '50 typing events');
      await sleep(200);
      expect(seen).to.have.length(50);
      // Another user's typing is not limited by Alice's.
      ok(await emitAck(b, 'typing', { roomId: room.id, typing: true }));
    });

    it('lets 30 reaction toggles per 10 s through, refusing the rest with nothing stored or sent', async () => {
      const alice = await h.user();
      const bob = await h.user();
      const room = await h.room(alice);
      const a = await h.openIn(alice, room.id);
      const b = await h.openIn(bob, room.id);
      const message = ok(await emitAck<MessageAck>(a, 'message:send', { roomId: room.id, text: 'react to me' })).message;
      const seen = collect(b, 'reaction');
      // 35 toggles of one emoji: after the 30 that count, it is back where it started (even), so none.
      const acks = await burst(a, 'reaction:toggle', () => ({ roomId: room.id, messageId: message.id, emoji: '👍' }), 35);
      expect(tally(acks)).to.deep.equal({ ok: 30, rate_limited: 5 });
      await waitFor(() => seen.length >= 30, '30 reaction events');
      await sleep(200);
      expect(seen).to.have.length(30);
      const [stored] = await h.roomMessages(bob, room.id);
      expect(stored?.reactions).to.equal(undefined);
    });

    it('lets a user create 20 rooms an hour; a refused creation does not count', async () => {
      const alice = await h.user();
      const first = await h.room(alice);
      await alice.post('/api/rooms', { id: first.id }).expect(409); // taken: gives its point back
      await alice.post('/api/rooms', { id: 'Not A Room Id' }).expect(400); // never counted
      for (let i = 1; i < 20; i++) await h.room(alice);
      const refused = await alice.post('/api/rooms', { id: `${first.id}-x` }).expect(429);
      expect(refused.body.error.code).to.equal('rate_limited');
      expect(Number(refused.headers['retry-after'])).to.be.within(1, 3600);
      // Another user is not affected.
      await h.room(await h.user());
    });

    it('refuses an event beyond 32 in flight on one socket at once, without disturbing the others', async () => {
      const alice = await h.user();
      const room = await h.room(alice);
      const a = await h.openIn(alice, room.id);
      gate.close();
      const acks = Array.from({ length: 40 }, () => emitAck<Ack>(a, 'typing', { roomId: room.id, typing: true }));
      const settled: Array<Ack | undefined> = new Array(40);
      acks.forEach((p, i) => void p.then((ack) => (settled[i] = ack)));
      await waitFor(() => gate.waiting === 32 && settled.filter(Boolean).length === 8, '32 in flight and 8 refused');
      expect(tally(settled.filter((x): x is Ack => x !== undefined))).to.deep.equal({ rate_limited: 8 });
      // Another socket of the same user has its own bound.
      const other = await h.openIn(alice, room.id);
      const third = emitAck<Ack>(other, 'typing', { roomId: room.id, typing: false });
      await waitFor(() => gate.waiting === 33, 'the other socket in flight');
      gate.reopen();
      expect(tally(await Promise.all(acks))).to.deep.equal({ ok: 32, rate_limited: 8 });
      ok(await third);
      // With nothing in flight, the socket is served again.
      ok(await emitAck(a, 'typing', { roomId: room.id, typing: false }));
    });

    it('stores and sends nothing for events admitted just before their session ended', async () => {
      const alice = await h.user();
      const bob = await h.user();
      const room = await h.room(alice);
      const a = await h.openIn(alice, room.id);
      const b = await h.openIn(bob, room.id);
      const message = ok(await emitAck<MessageAck>(a, 'message:send', { roomId: room.id, text: 'before' })).message;
      gate.close();
      // Admitted while the session is live; held at the rate-limit check.
      for (const [event, payload] of [
        ['message:send', { roomId: room.id, text: 'after the end' }],
        ['typing', { roomId: room.id, typing: true }],
        ['reaction:toggle', { roomId: room.id, messageId: message.id, emoji: '🎉' }],
        ['dm:send', { to: bob.user.username, text: 'dm after the end' }],
      ] as const) {
        a.emit(event, payload, () => undefined);
      }
      await waitFor(() => gate.waiting === 4, 'four events in flight');
      const gone = disconnected(a);
      await alice.logout();
      await gone;
      gate.reopen();
      const leaked = await Promise.all([
        arrivesWhere(b, 'message:new', () => true, 500),
        arrivesWhere(b, 'typing', () => true, 500),
        arrivesWhere(b, 'reaction', () => true, 500),
        arrivesWhere(b, 'dm:new', () => true, 500),
      ]);
      expect(leaked).to.deep.equal([false, false, false, false]);
      const stored = await h.roomMessages(bob, room.id);
      expect(stored.map((m) => m.text)).to.deep.equal(['before']);
      expect(stored[0]!.reactions).to.equal(undefined);
      const dms = await emitAck<Ack<{ messages: unknown[] }>>(b, 'dm:history', { with: alice.user.username });
      expect(ok(dms).messages).to.deep.equal([]);
    });
  });

  describe(`sockets per user (${backend})`, function () {
    needs(backend);
    this.timeout(30_000);
    const h = new ChatHarness(backend);
    before(() => h.start({ MAX_SOCKETS_PER_USER: '3' }));
    afterEach(() => h.closeSockets());
    after(() => h.stop());

    it('connects at most MAX_SOCKETS_PER_USER sockets of a user, even when they race; the rest get too_many_connections', async () => {
      const alice = await h.user();
      const results = await Promise.all(
        Array.from({ length: 10 }, () => connectSocket(h.url, { headers: { cookie: alice.cookie } }).then((s) => s, (e: Error) => e)),
      );
      const sockets = results.filter((r): r is Socket => !(r instanceof Error));
      const refused = results.filter((r): r is Error => r instanceof Error).map((e) => e.message);
      try {
        expect(sockets).to.have.length(3);
        expect(refused).to.deep.equal(Array(7).fill('too_many_connections'));
        // Other users are not affected; and one leaving lets one more in.
        await h.open(await h.user());
        const leaving = disconnected(sockets[0]!);
        sockets[0]!.close();
        await leaving;
        await waitFor(async () => {
          const s = await connectSocket(h.url, { headers: { cookie: alice.cookie } }).then((x) => x, () => null);
          if (s) sockets.push(s);
          return s !== null;
        }, 'a socket after one left');
        const more = await connectSocket(h.url, { headers: { cookie: alice.cookie } }).then(() => 'connected', (e: Error) => e.message);
        expect(more).to.equal('too_many_connections');
      } finally {
        for (const s of sockets) s.close();
      }
    });
  });

  describe(`sessions nobody logged into (${backend})`, function () {
    needs(backend);
    const h = new ChatHarness(backend);
    before(() => h.start({ ANONYMOUS_SESSION_TTL_SECONDS: '1' }));
    after(() => h.stop());

    /** The session id inside a `sid=s:<id>.<signature>` cookie. */
    const sidOf = (cookie: string) => decodeURIComponent(cookie.slice('sid='.length)).slice(2).split('.')[0]!;
    /** The idle deadline the live session wrote into a session's stored record (ms left), or null without a record. */
    const msLeft = (cookie: string) =>
      new Promise<number | null>((resolve, reject) =>
        h.server.stores.sessionBase.get(sidOf(cookie), (err, data) => {
          if (err) return reject(err);
          const exp = (data as { _live?: { exp: number } } | null)?._live?.exp;
          resolve(exp === undefined ? null : exp - Date.now());
        }),
      );

    it('keeps a session without a user only for the short anonymous lifetime, a logged-in one for SESSION_TTL_SECONDS', async () => {
      const res = await request(h.url).get('/api/csrf').expect(200);
      const cookie = res.headers['set-cookie']![0]!.split(';')[0]!;
      expect(await msLeft(cookie)).to.be.a('number').and.at.most(1000);
      const alice = await h.user();
      expect(await msLeft(alice.cookie)).to.be.greaterThan(86_000_000);
      await sleep(1500);
      await request(h.url).post('/api/login').set('cookie', cookie).set('x-csrf-token', res.body.csrfToken).send({ username: alice.user.username, password: 'x'.repeat(8) }).expect(403);
      await alice.agent.get('/api/me').expect(200);
    });
  });
}

describe('limits as settings', () => {
  it('reads RATE_LIMITS overrides and names the variable in errors', async () => {
    const { loadConfig, DEFAULT_LIMITS } = await import('../../src/config.js');
    const config = loadConfig({ RATE_LIMITS: 'typing=500/10, room_create=5/60' });
    expect(config.limits.typing).to.deep.equal({ points: 500, durationSeconds: 10 });
    expect(config.limits.room_create).to.deep.equal({ points: 5, durationSeconds: 60 });
    expect(config.limits.send).to.deep.equal(DEFAULT_LIMITS.send);
    expect(() => loadConfig({ RATE_LIMITS: 'typing=fast' })).to.throw(/RATE_LIMITS: "typing=fast" is not name=points\/seconds/);
    expect(() => loadConfig({ RATE_LIMITS: 'typo=5/10' })).to.throw(/RATE_LIMITS: unknown limit "typo"/);
    expect(() => loadConfig({ RATE_LIMITS: 'typing=0/10' })).to.throw(/RATE_LIMITS/);
    expect(() => loadConfig({ MAX_SOCKETS_PER_USER: '0' })).to.throw(/MAX_SOCKETS_PER_USER/);
    expect(loadConfig({}).maxSocketsPerUser).to.equal(50);
    expect(loadConfig({ ANONYMOUS_SESSION_TTL_SECONDS: '99999', SESSION_TTL_SECONDS: '600' }).anonymousSessionTtlSeconds).to.equal(600);
  });
});
