/**
 * The store decorator (live.store) through express-session's Store interface, and
 * mergeChanges: ported from the chat's unit tests of its live store onto the
 * package's public API, on both base stores.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import type { Request } from 'express';
import type { Session, SessionData, Store } from 'express-session';
import { mergeChanges, sessionHandle, type BusMessage, type SessionFields } from '../src/index.js';
import { BACKENDS, SECRET } from './helpers/app.js';
import { useApps } from './helpers/suite.js';
import { assign, Browser, signedCookie, waitFor, whoami } from './helpers/client.js';
import { baseGet, type BaseRecord } from './helpers/stores.js';
import { needs } from '../../../test/support/services.js';

const COOKIE_JSON = { originalMaxAge: null, httpOnly: true, path: '/' };
const fields = (extra: object) => ({ cookie: COOKIE_JSON, ...extra }) as unknown as SessionFields;
type Loaded = Session & Record<string, unknown>;

function storeSet(store: Store, sid: string, sess: object): Promise<void> {
  return new Promise((resolve, reject) => store.set(sid, sess as SessionData, (err) => (err ? reject(err) : resolve())));
}

function storeDestroy(store: Store, sid: string): Promise<void> {
  return new Promise((resolve, reject) => store.destroy(sid, (err) => (err ? reject(err) : resolve())));
}

function storeTouch(store: Store, sid: string, sess: object): Promise<void> {
  return new Promise((resolve, reject) => store.touch!(sid, sess as SessionData, ((err?: unknown) => (err ? reject(err) : resolve())) as () => void));
}

/** What express-session does for a request: get, then build req.session from the data. */
async function loadAsRequest(store: Store, sid: string): Promise<Loaded | null> {
  const data = await new Promise<SessionData | null | undefined>((resolve, reject) => store.get(sid, (err, d) => (err ? reject(err) : resolve(d))));
  if (!data) return null;
  const req = { sessionID: sid, sessionStore: store } as unknown as Request;
  return store.createSession(req, data) as unknown as Loaded;
}

describe('mergeChanges', () => {
  const basis = (o: Record<string, unknown>) => new Map(Object.entries(o).map(([k, v]) => [k, JSON.stringify(v)]));

  it('applies the keys this writer changed onto the current record, keeping the keys others changed', () => {
    const current = fields({ a: 1, b: 'theirs' });
    const merged = mergeChanges(current, basis({ a: 1, b: 'old' }), fields({ a: 2, b: 'old' }));
    expect(merged).to.deep.equal(fields({ a: 2, b: 'theirs' }));
  });

  it('applies a deletion made by a stale writer, and only that', () => {
    const current = fields({ a: 1, b: 2, c: 3 });
    const next = fields({ a: 1 }); // this writer deleted b and never saw c
    expect(mergeChanges(current, basis({ a: 1, b: 2 }), next)).to.deep.equal(fields({ a: 1, c: 3 }));
  });

  it('adds the keys this writer added; a key both changed goes to this (the later) writer', () => {
    const current = fields({ shared: 'theirs', other: 1 });
    const merged = mergeChanges(current, basis({ shared: 'old' }), fields({ shared: 'mine', added: true }));
    expect(merged).to.deep.equal(fields({ shared: 'mine', other: 1, added: true }));
  });

  it('keeps a key another writer deleted when this writer did not touch it', () => {
    const current = fields({ a: 1 });
    expect(mergeChanges(current, basis({ a: 1, b: 2 }), fields({ a: 1, b: 2 }))).to.deep.equal(fields({ a: 1 }));
  });

  it('compares top-level keys whole (a nested change replaces the whole value)', () => {
    const current = fields({ prefs: { theme: 'light', lang: 'fr' } });
    const merged = mergeChanges(current, basis({ prefs: { theme: 'light', lang: 'en' } }), fields({ prefs: { theme: 'dark', lang: 'en' } }));
    expect(merged).to.deep.equal(fields({ prefs: { theme: 'dark', lang: 'en' } }));
  });

  it('takes the cookie from this writer, ignores the bookkeeping, and changes none of its inputs', () => {
    const current = { ...fields({ a: 1 }), _live: { v: 9 } } as unknown as SessionFields;
    const next = { cookie: { ...COOKIE_JSON, path: '/app' }, a: 2, _live: { v: 1 } } as unknown as SessionFields;
    const b = basis({ a: 1 });
    const snapshot = JSON.stringify([current, [...b], next]);
    const merged = mergeChanges(current, b, next) as unknown as Record<string, unknown>;
    expect(merged.cookie).to.deep.equal({ ...COOKIE_JSON, path: '/app' });
    expect(merged.a).to.equal(2);
    expect(merged._live).to.deep.equal({ v: 9 }); // the caller's to replace
    expect(JSON.stringify([current, [...b], next])).to.equal(snapshot);
  });
});

for (const backend of BACKENDS) {
  describe(`live.store, the store decorator (${backend})`, function () {
    needs(backend);
    const start = useApps(backend);
    const sid = () => randomUUID();

    it('keeps its bookkeeping (_live) in the base record and hands express-session the data only', async () => {
      const app = await start({ live: { ttlSeconds: 100 } });
      const id = sid();
      const before = Date.now();
      await storeSet(app.live.store, id, fields({ passport: { user: 'u1' } }));
      const raw = (await baseGet(app.base, id))!;
      expect(raw.passport).to.deep.equal({ user: 'u1' });
      expect(raw._live!.v).to.equal(1);
      expect(raw._live!.createdAt).to.be.at.least(before);
      expect(raw._live!.seenAt).to.equal(raw._live!.createdAt);
      expect(raw._live!.exp - raw._live!.seenAt).to.equal(100_000);
      const loaded = (await loadAsRequest(app.live.store, id))!;
      expect(loaded).to.not.have.property('_live');
      expect(loaded.passport).to.deep.equal({ user: 'u1' });
    });

    it('merges two writers that loaded the same version, keeping both changes', async () => {
      const app = await start();
      const id = sid();
      await storeSet(app.live.store, id, fields({ passport: { user: 'u1' }, prefs: { theme: 'light' } }));
      const first = (await loadAsRequest(app.live.store, id))!;
      const second = (await loadAsRequest(app.live.store, id))!;
      first.prefs = { theme: 'dark' };
      second.lastRoomId = 'lobby';
      await storeSet(app.live.store, id, first);
      await storeSet(app.live.store, id, second); // based on the old version: merged, not replayed
      const now = (await baseGet(app.base, id))!;
      expect(now.prefs).to.deep.equal({ theme: 'dark' });
      expect(now.lastRoomId).to.equal('lobby');
      expect(now._live!.v).to.equal(3);
    });

    it('never resurrects a session destroyed (or revoked) while a request was using it', async () => {
      const app = await start();
      for (const end of ['destroy', 'revoke'] as const) {
        const id = sid();
        await storeSet(app.live.store, id, fields({ passport: { user: 'u1' } }));
        const inFlight = (await loadAsRequest(app.live.store, id))!;
        if (end === 'destroy') await storeDestroy(app.live.store, id);
        else expect(await app.live.revoke('u1', sessionHandle(id))).to.equal(true);
        inFlight.prefs = { theme: 'dark' };
        await storeSet(app.live.store, id, inFlight);
        expect(await baseGet(app.base, id), end).to.equal(null);
        expect(await loadAsRequest(app.live.store, id), end).to.equal(null);
      }
    });

    it('publishes changes of existing sessions and ends with their reason; not brand-new ones', async () => {
      const app = await start();
      const messages: BusMessage[] = [];
      app.live.bus.subscribe((m) => messages.push(m));
      const [a, b] = [sid(), sid()];
      await storeSet(app.live.store, a, fields({ passport: { user: 'u1' } })); // new: nobody can hold it yet
      const loaded = (await loadAsRequest(app.live.store, a))!;
      loaded.lastRoomId = 'x';
      await storeSet(app.live.store, a, loaded);
      expect(await app.live.revoke('u1', sessionHandle(a))).to.equal(true);
      await storeSet(app.live.store, b, fields({ passport: { user: 'u2' } }));
      await storeDestroy(app.live.store, b);
      const expected = [
        { t: 'session', sid: a },
        { t: 'session', sid: a, reason: 'revoked' },
        { t: 'session', sid: b, reason: 'logout' },
      ];
      await waitFor(() => messages.length >= expected.length, 'the messages');
      await sleep(50); // nothing more may come
      expect(messages).to.deep.equal(expected);
    });

    it('throttles activity touches', async () => {
      const app = await start({ live: { touchEverySeconds: 0.2 } });
      const id = sid();
      await storeSet(app.live.store, id, fields({ passport: { user: 'u1' } }));
      const first = (await baseGet(app.base, id))!._live!;
      const req = (await loadAsRequest(app.live.store, id))!;
      await storeTouch(app.live.store, id, req);
      expect((await baseGet(app.base, id))!._live, 'too soon: not written').to.deep.equal(first);
      await sleep(250);
      await storeTouch(app.live.store, id, req);
      const after = (await baseGet(app.base, id))!._live!;
      expect(after.v, 'the data version stays: a save based on it is still current').to.equal(first.v);
      expect(after.seenAt).to.be.greaterThan(first.seenAt);
      expect(after.exp).to.be.greaterThan(first.exp);
      expect(after.createdAt).to.equal(first.createdAt);
    });

    it('lists and unlists a user\'s sessions as the user changes', async () => {
      const app = await start();
      const [s5, s6] = [sid(), sid()];
      const user = `u-${randomUUID()}`;
      await storeSet(app.live.store, s5, fields({ passport: { user } }));
      await storeSet(app.live.store, s6, fields({ passport: { user } }));
      expect((await app.live.sessionsOf(user)).map((s) => s.handle).sort()).to.deep.equal([sessionHandle(s5), sessionHandle(s6)].sort());
      const loaded = (await loadAsRequest(app.live.store, s5))!;
      delete loaded.passport;
      await storeSet(app.live.store, s5, loaded);
      await storeDestroy(app.live.store, s6);
      expect(await app.live.sessionsOf(user)).to.deep.equal([]);
    });

    it('a falsy user is nobody (0, an empty string, false): not listed, not indexed; \'0\' as a string is a user', async () => {
      const app = await start();
      const [zero, empty, no, text] = [sid(), sid(), sid(), sid()];
      await storeSet(app.live.store, zero, fields({ passport: { user: 0 } }));
      await storeSet(app.live.store, empty, fields({ passport: { user: '' } }));
      await storeSet(app.live.store, no, fields({ passport: { user: false } }));
      await storeSet(app.live.store, text, fields({ passport: { user: '0' } }));
      expect(await app.live.sessionsOf(0)).to.deep.equal([]);
      expect(await app.live.sessionsOf('')).to.deep.equal([]);
      for (const key of ['false', '']) expect(await app.live.bus.index.list(key), key).to.deep.equal([]);
      expect((await app.live.sessionsOf('0')).map((s) => s.handle)).to.deep.equal([sessionHandle(text)]);
    });

    it('the user index forgets sessions the store let expire on its own', async () => {
      const app = await start({ live: { ttlSeconds: 0.3 } });
      const user = `u-${randomUUID()}`;
      await storeSet(app.live.store, sid(), fields({ passport: { user } }));
      expect(await app.live.bus.index.list(user)).to.have.length(1);
      // Nobody lists or revokes this user's sessions again: the index entry must not stay behind for ever.
      await waitFor(async () => (await app.live.bus.index.list(user)).length === 0, 'the index entry to expire');
      if (app.redis) expect(await app.redis.keys(`${app.prefix}usess:*`)).to.deep.equal([]);
    });

    it('a record past its deadline reads as none and is deleted from the base store', async () => {
      const app = await start({ live: { ttlSeconds: 0.3 } });
      const id = sid();
      await storeSet(app.live.store, id, fields({ passport: { user: 'u1' } }));
      await sleep(400);
      expect(await loadAsRequest(app.live.store, id)).to.equal(null);
      await waitFor(async () => (await baseGet(app.base, id)) === null, 'the base record to be deleted');
    });

    it('wraps, not replaces: a session written before the package (no bookkeeping) is logged in on HTTP and sockets', async () => {
      const app = await start();
      const id = sid();
      const user = `u-${randomUUID()}`;
      await storeSet(app.base, id, fields({ passport: { user }, theme: 'dark' })); // straight into the base store
      const b = new Browser(app.url);
      b.cookie = signedCookie(id, SECRET);
      expect(await b.me()).to.deep.equal({ user, data: { passport: { user }, theme: 'dark' } });
      const s = await b.connect();
      expect(await whoami(s)).to.deep.equal({ passport: { user }, theme: 'dark' });
      await app.live.update(app.serverSocket(s), assign({ seen: true }));
      const raw = (await baseGet(app.base, id)) as BaseRecord;
      expect(raw.seen).to.equal(true);
      expect(raw._live?.v).to.be.a('number');
    });
  });
}
