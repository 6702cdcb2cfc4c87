import session from 'express-session';
import type { Log, LiveBus, LiveMeta, LiveRecord, SessionFields, StoredRecord } from './types.js';

type Callback = (err?: unknown, value?: unknown) => void;

/** What a request or socket loaded: the version it is based on and each key's JSON then. */
interface Basis {
  meta: LiveMeta;
  snapshot: ReadonlyMap<string, string>;
}

/**
 * Where a session object (what get() gave, the req.session express-session built from it,
 * one that was saved) carries its Basis: a symbol-keyed property, which JSON, express-session's
 * copy of the fields (for…in) and structuredClone all leave out. A WeakMap did the same at
 * about ten times the cost per entry (an ephemeron the collector must trace), twice a handshake.
 */
const BASIS = Symbol('socket.io-live-session basis');
type Based = { [BASIS]?: Basis };
const basisOf = (sess: object): Basis | undefined => (sess as Based)[BASIS];
const setBasis = (sess: object, basis: Basis) => {
  (sess as Based)[BASIS] = basis;
};

export interface LiveStoreOptions {
  base: session.Store;
  bus: LiveBus;
  /** The user key of a session's data, or undefined when nobody is logged in. */
  userOf: (data: SessionFields) => string | undefined;
  ttlMs: number;
  /** Idle lifetime of a session without a user. */
  anonymousTtlMs: number;
  /** Activity touches closer together than this are not written (at most a tenth of the lifetime). */
  touchEveryMs: number;
  log: Log | undefined;
}

const BOOKKEEPING = new Set(['cookie', '_live']);

/**
 * A record a handshake's `get` is answered with without a read: a copy of its own (express-session
 * changes what it is given), and its snapshot, which is never changed once made and so may be shared.
 */
export interface KnownRecord extends LiveRecord {
  snapshot: ReadonlyMap<string, string>;
}

/** Each top-level key's JSON (the bookkeeping keys aside): what a writer's changes are measured against. */
export function snapshotOf(data: object): Map<string, string> {
  const snap = new Map<string, string>();
  for (const [k, v] of Object.entries(data)) if (!BOOKKEEPING.has(k)) snap.set(k, JSON.stringify(v));
  return snap;
}

/** A plain, JSON-safe copy (drops express-session's non-enumerable `req`/`id`; Cookie → its JSON). */
function plain(sess: object): SessionFields {
  return JSON.parse(JSON.stringify(sess)) as SessionFields;
}

/**
 * Applies only the top-level keys this writer changed (relative to what it
 * loaded) onto the current record, deletions included, so that concurrent
 * writers to different keys never lose each other's changes. A key both
 * changed goes to the later writer.
 */
export function mergeChanges(current: SessionFields, basis: ReadonlyMap<string, string>, next: SessionFields): SessionFields {
  const result: Record<string, unknown> = { ...(current as unknown as Record<string, unknown>) };
  const keys = new Set([...basis.keys(), ...Object.keys(next)]);
  for (const key of keys) {
    if (BOOKKEEPING.has(key)) continue;
    const value = (next as unknown as Record<string, unknown>)[key];
    const after = value === undefined ? undefined : JSON.stringify(value);
    if (after === basis.get(key)) continue; // this writer did not touch it
    if (after === undefined) delete result[key];
    else result[key] = value;
  }
  result.cookie = next.cookie;
  return result as unknown as SessionFields;
}

/**
 * A decorator around the app's express-session store (connect-redis, a memory
 * store, ...) that makes every session record live:
 * - every write is versioned and serialised per session (the bus's lock, across
 *   processes); a write based on an old version merges its changed keys onto the
 *   current record, and a write of a session destroyed meanwhile is dropped;
 * - every change or destroy of an existing session is published on the bus, so
 *   each process can refresh or end the sockets it holds for that session;
 * - records carry an idle deadline, which reads enforce and activity extends;
 * - an index lists each user's sessions, for listing and revoking them.
 * The base store only ever sees get, set and destroy (no touch needed).
 */
export class LiveStore extends session.Store {
  /** While a handshake's middleware runs: where a `get` finds a record it need not read (see duringHandshake). */
  private known: ((sid: string) => KnownRecord | undefined) | undefined;

  constructor(private readonly o: LiveStoreOptions) {
    super();
  }

  // ---- the base store, promisified -------------------------------------------

  private baseGet(sid: string): Promise<StoredRecord | null> {
    return new Promise((resolve, reject) =>
      this.o.base.get(sid, (err, data) => (err ? reject(err) : resolve((data as StoredRecord | null | undefined) ?? null))),
    );
  }

  private baseSet(sid: string, record: StoredRecord): Promise<void> {
    return new Promise((resolve, reject) => this.o.base.set(sid, record, (err) => (err ? reject(err) : resolve())));
  }

  private baseDestroy(sid: string): Promise<void> {
    return new Promise((resolve, reject) => this.o.base.destroy(sid, (err) => (err ? reject(err) : resolve())));
  }

  // ---- reading ------------------------------------------------------------------

  /** The current record, or null when there is none or it is past its idle deadline. */
  async read(sid: string): Promise<LiveRecord | null> {
    const record = await this.baseGet(sid);
    if (!record) return null;
    const { _live, ...data } = record;
    const now = Date.now();
    const meta = _live ?? { v: 0, exp: now + this.ttlOf(data as SessionFields), createdAt: now, seenAt: now };
    if (meta.exp <= now) {
      // Past its deadline: gone for everyone. A store that keeps it (a memory store without cookie expiry) lets it go.
      this.baseDestroy(sid).catch(() => undefined);
      return null;
    }
    return { data: data as SessionFields, meta };
  }

  /** The version and deadline a request's session was loaded at (undefined for a new session). */
  metaOf(sess: object): LiveMeta | undefined {
    return basisOf(sess)?.meta;
  }

  override get(sid: string, cb: (err: unknown, session?: session.SessionData | null) => void): void {
    const answer = (loaded: KnownRecord | LiveRecord | null) => {
      if (!loaded) return cb(null, null);
      setBasis(loaded.data, { meta: loaded.meta, snapshot: 'snapshot' in loaded ? loaded.snapshot : snapshotOf(loaded.data) });
      cb(null, loaded.data);
    };
    const known = this.known?.(sid);
    if (known) queueMicrotask(() => answer(known));
    else this.read(sid).then(answer, cb);
  }

  /**
   * Runs one of a handshake's middleware (express-session's asks its store from inside
   * its own call, synchronously) with `known` answering a `get` it can: the record of a
   * session whose sockets here the bus keeps current, which the CONNECT would trust too.
   * Any other `get`, an HTTP request's above all, reads the store.
   */
  duringHandshake<T>(known: (sid: string) => KnownRecord | undefined, fn: () => T): T {
    const outer = this.known;
    this.known = known;
    try {
      return fn();
    } finally {
      this.known = outer;
    }
  }

  /** express-session builds req.session from what get() returned: carry the basis over to it. */
  override createSession(req: Parameters<session.Store['createSession']>[0], data: session.SessionData) {
    const basis = basisOf(data);
    const created = super.createSession(req, data);
    if (basis) setBasis(created, basis);
    return created;
  }

  // ---- writing --------------------------------------------------------------------

  override set(sid: string, sess: session.SessionData, cb?: Callback): void {
    this.save(sid, sess).then(
      () => cb?.(),
      (err: unknown) => (cb ? cb(err) : this.o.log?.error({ err: String(err) }, 'session save failed')),
    );
  }

  /** Versioned save of a whole session object (the HTTP path). */
  async save(sid: string, sess: object): Promise<void> {
    const basis = basisOf(sess);
    const next = plain(sess);
    const written = await this.o.bus.lock.withLock(sid, async () => {
      const current = await this.read(sid);
      if (!current && basis) return null; // destroyed (logout, revocation) while this request ran: never resurrect it
      // Always a merge of what this writer changed: a request that saved once already (req.session.save())
      // holds a copy without what others wrote in between, even when the version still matches.
      const data = current && basis ? mergeChanges(current.data, basis.snapshot, next) : next;
      return this.put(sid, data, current);
    });
    if (written) setBasis(sess, { meta: written.meta, snapshot: snapshotOf(next) });
  }

  /**
   * Read-apply-write under the session's lock (the socket path). `apply` mutates
   * the data (it may be async); returning false means "no change". Resolves to
   * the new record, or null when the session no longer exists.
   */
  async update(sid: string, apply: (data: SessionFields) => unknown): Promise<LiveRecord | null> {
    return this.o.bus.lock.withLock(sid, async () => {
      const current = await this.read(sid);
      if (!current) return null;
      const data = structuredClone(current.data);
      if ((await apply(data)) === false) return current;
      return this.put(sid, data, current);
    });
  }

  private ttlOf(data: SessionFields): number {
    return this.o.userOf(data) === undefined ? this.o.anonymousTtlMs : this.o.ttlMs;
  }

  /** Writes under the lock already held; publishes when an existing session changed. */
  private async put(sid: string, data: SessionFields, current: LiveRecord | null): Promise<LiveRecord> {
    const now = Date.now();
    const meta: LiveMeta = { v: (current?.meta.v ?? 0) + 1, exp: now + this.ttlOf(data), createdAt: current?.meta.createdAt ?? now, seenAt: now };
    await this.baseSet(sid, { ...data, _live: meta });
    const before = current ? this.o.userOf(current.data) : undefined;
    const after = this.o.userOf(data);
    if (after !== undefined) await this.o.bus.index.add(after, sid, this.o.ttlMs);
    if (before !== undefined && before !== after) await this.o.bus.index.remove(before, sid);
    // Sockets only ever belong to sessions that existed before this write.
    if (current) await this.o.bus.publish({ t: 'session', sid });
    return { data, meta };
  }

  /** express-session calls this for an unchanged session on each request: activity. */
  override touch(sid: string, sess: session.SessionData, cb?: Callback): void {
    const basis = basisOf(sess);
    if (basis && !this.touchDue(basis.meta)) {
      cb?.();
      return;
    }
    this.extend(sid).then(
      () => cb?.(),
      (err: unknown) => (cb ? cb(err) : undefined),
    );
  }

  /** True when enough time has passed since the last recorded activity to write a new deadline. */
  touchDue(meta: LiveMeta, now = Date.now()): boolean {
    return now - meta.seenAt >= Math.min(this.o.touchEveryMs, (meta.exp - meta.seenAt) / 10);
  }

  /**
   * Pushes the idle deadline out (activity): the data and its version stay as
   * they are (a save based on that version is still current). Every process
   * hears of it, so that none ends the session's sockets at the old deadline.
   * No-op when the session is gone.
   */
  async extend(sid: string): Promise<void> {
    const extended = await this.o.bus.lock.withLock(sid, async () => {
      const current = await this.read(sid);
      if (!current) return false;
      const now = Date.now();
      await this.baseSet(sid, { ...current.data, _live: { ...current.meta, exp: now + this.ttlOf(current.data), seenAt: now } });
      const userKey = this.o.userOf(current.data);
      if (userKey !== undefined) await this.o.bus.index.add(userKey, sid, this.o.ttlMs);
      return true;
    });
    if (extended) await this.o.bus.publish({ t: 'session', sid });
  }

  // ---- ending ---------------------------------------------------------------------

  /** express-session's destroy (logout, regenerate) ends the session as a logout. */
  override destroy(sid: string, cb?: Callback): void {
    this.end(sid, 'logout').then(
      () => cb?.(),
      (err: unknown) => (cb ? cb(err) : undefined),
    );
  }

  /** Deletes the session and tells every process holding its sockets why. */
  async end(sid: string, reason: 'logout' | 'expired' | 'revoked'): Promise<void> {
    await this.o.bus.lock.withLock(sid, async () => {
      const current = await this.baseGet(sid);
      await this.baseDestroy(sid);
      const userKey = current ? this.o.userOf(current) : undefined;
      if (userKey !== undefined) await this.o.bus.index.remove(userKey, sid);
    });
    await this.o.bus.publish({ t: 'session', sid, reason });
  }

  /** The live sessions of a user (by key), pruning index entries whose record has gone (expiry). */
  async sessionsOf(userKey: string): Promise<Array<{ sid: string } & LiveRecord>> {
    const sids = await this.o.bus.index.list(userKey);
    const found: Array<{ sid: string } & LiveRecord> = [];
    await Promise.all(
      sids.map(async (sid) => {
        const rec = await this.read(sid);
        if (rec && this.o.userOf(rec.data) === userKey) found.push({ sid, ...rec });
        else await this.o.bus.index.remove(userKey, sid);
      }),
    );
    return found.sort((a, b) => a.meta.createdAt - b.meta.createdAt);
  }
}
