import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import session from 'express-session';
import type { Request } from 'express';
import { createLogger } from '../../src/logger.js';
import { LiveSessionStore, mergeChanges } from '../../src/session/live-store.js';
import type { SessionFields } from '../../src/session/types.js';
import { createMemoryBus, createMemoryLock, createMemorySessionIndex } from '../../src/store/memory/infra.js';
import { MemorySessionStore } from '../../src/store/memory/sessions.js';
import type { BusMessage } from '../../src/store/types.js';

function makeStore(touchEveryMs = 1000) {
  const base = new MemorySessionStore((s) => (s as { _live?: { exp: number } })._live?.exp ?? Date.now());
  const bus = createMemoryBus();
  const messages: BusMessage[] = [];
  bus.subscribe((m) => messages.push(m));
  const store = new LiveSessionStore({
    base,
    lock: createMemoryLock(),
    bus,
    index: createMemorySessionIndex(),
    ttlMs: 60_000,
    anonymousTtlMs: 60_000,
    touchEveryMs,
    log: createLogger('silent'),
  });
  return { store, base, messages };
}

/** What express-session does for a request: get, then build req.session from the data. */
async function loadAsRequest(store: LiveSessionStore, sid: string) {
  const data = await new Promise<session.SessionData | null | undefined>((resolve, reject) =>
    store.get(sid, (err, d) => (err ? reject(err) : resolve(d))),
  );
  if (!data) return null;
  const req = { sessionID: sid, sessionStore: store } as unknown as Request;
  return store.createSession(req, data) as session.Session & session.SessionData;
}

const fields = (extra: object): SessionFields =>
  ({ cookie: { originalMaxAge: null, httpOnly: true, path: '/' }, ...extra }) as unknown as SessionFields;

describe('LiveSessionStore', () => {
  it('merges two writers that loaded the same version, keeping both changes', async () => {
    const { store } = makeStore();
    await store.save('s1', fields({ passport: { user: 'u1' }, prefs: { theme: 'light' } }));
    const first = (await loadAsRequest(store, 's1'))!;
    const second = (await loadAsRequest(store, 's1'))!;
    first.prefs = { theme: 'dark' };
    second.lastRoomId = 'lobby';
    await store.save('s1', first);
    await store.save('s1', second); // based on the old version: merged, not replayed
    const now = (await store.read('s1'))!;
    expect(now.data.prefs).to.deep.equal({ theme: 'dark' });
    expect(now.data.lastRoomId).to.equal('lobby');
    expect(now.meta.v).to.equal(3);
  });

  it('applies a deletion made by a stale writer, and only that', async () => {
    const current = fields({ a: 1, b: 2, c: 3 });
    const basis = new Map([
      ['a', '1'],
      ['b', '2'],
    ]);
    const next = fields({ a: 1 }); // this writer deleted b and never saw c
    expect(mergeChanges(current, basis, next)).to.deep.include({ a: 1, c: 3 }).and.not.have.property('b');
  });

  it('never resurrects a session destroyed while a request was using it', async () => {
    const { store } = makeStore();
    await store.save('s2', fields({ passport: { user: 'u1' } }));
    const inFlight = (await loadAsRequest(store, 's2'))!;
    await store.end('s2', 'revoked');
    inFlight.prefs = { theme: 'dark' };
    await store.save('s2', inFlight);
    expect(await store.read('s2')).to.equal(null);
  });

  it('publishes changes of existing sessions and ends with their reason; not brand-new ones', async () => {
    const { store, messages } = makeStore();
    await store.save('s3', fields({ passport: { user: 'u1' } }));
    await store.update('s3', (d) => void (d.lastRoomId = 'x'));
    await store.end('s3', 'revoked');
    await sleep(5);
    expect(messages).to.deep.equal([
      { t: 'session', sid: 's3' },
      { t: 'session', sid: 's3', reason: 'revoked' },
    ]);
  });

  it('throttles activity touches', async () => {
    const { store } = makeStore(200);
    await store.save('s4', fields({ passport: { user: 'u1' } }));
    const req = (await loadAsRequest(store, 's4'))!;
    await new Promise<void>((resolve) => store.touch('s4', req, () => resolve()));
    expect((await store.read('s4'))!.meta.v).to.equal(1); // too soon: not written
    await sleep(220);
    await new Promise<void>((resolve) => store.touch('s4', req, () => resolve()));
    const after = (await store.read('s4'))!;
    expect(after.meta.v).to.equal(2);
    expect(after.meta.seenAt).to.be.greaterThan(Date.now() - 100);
  });

  it('lists and unlists a user\'s sessions as the user changes', async () => {
    const { store } = makeStore();
    await store.save('s5', fields({ passport: { user: 'u9' } }));
    await store.save('s6', fields({ passport: { user: 'u9' } }));
    expect((await store.sessionsOf('u9')).map((s) => s.sid).sort()).to.deep.equal(['s5', 's6']);
    await store.update('s5', (d) => void delete d.passport);
    await store.end('s6', 'logout');
    expect(await store.sessionsOf('u9')).to.deep.equal([]);
  });
});
