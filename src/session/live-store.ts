import session from 'express-session';
import type { Request } from 'express';
import type { Logger } from '../logger.js';
import type { Bus, KeyedLock, SessionIndex } from '../store/types.js';
import type { EndReason, LiveMeta, SessionFields, StoredRecord } from './types.js';

type Callback = (err?: unknown, value?: unknown) => void;

/** What a request or socket loaded: the version it is based on and each key's JSON then. */
interface Basis {
  meta: LiveMeta;
  snapshot: Map<string, string>;
}

export interface LiveRecord {
  data: SessionFields;
  meta: LiveMeta;
}

export interface LiveStoreOptions {
  base: session.Store;
  lock: KeyedLock;
  bus: Bus;
  index: SessionIndex;
  /** Idle lifetime of a logged-in session. */
  ttlMs: number;
  /** Idle lifetime of a session without a user (a CSRF token, a visit to the login page): short, as it costs storage for nothing. */
  anonymousTtlMs: number;
  /**
   * Activity touches closer together than this are not written (throttle); a
   * session with a short lifetime is touched at least every tenth of it.
   */
  touchEveryMs: number;
  log: Logger;
}

const BOOKKEEPING = new Set(['cookie', '_live']);

function snapshotOf(data: object): Map<string, string> {
  const snap = new Map<string, string>();
  for (const [k, v] of Object.entries(data)) if (!BOOKKEEPING.has(k)) snap.set(k, JSON.stringify(v));
  return snap;
}

/** A plain, JSON-safe copy (drops express-session's non-enumerable `req`/`id`; Cookie → its JSON). */
function plain(sess: object): SessionFields {
  return JSON.parse(JSON.stringify(sess)) as SessionFields;
}

/**
 * Applies only the keys this writer changed (relative to what it loaded) onto the
 * current record, so that concurrent writers to different keys never lose each
 * other's changes. A key both changed goes to the later writer.
 */
export function mergeChanges(current: SessionFields, basis: Map<string, string>, next: SessionFields): SessionFields {
  const result = { ...current } as unknown as Record<string, unknown>;
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

const userOf = (data: SessionFields | undefined) => data?.passport?.user;

/**
 * A decorator around the real express-session store (connect-redis or memory)
 * that makes every session record live:
 * - every write is versioned and serialised per session (a lock across processes);
 *   a write based on an old version merges its changed keys onto the current record;
 * - every change or destroy of an existing session is published on the bus, so
 *   each process can refresh or end the sockets it holds for that session;
 * - records carry an idle deadline; activity extends it (throttled);
 * - a per-user index lists a user's sessions for management and revocation.
 */
export class LiveSessionStore extends session.Store {
  private readonly bases = new WeakMap<object, Basis>();

  constructor(private readonly o: LiveStoreOptions) {
    super();
  }

  // ---- promisified base store ------------------------------------------------

  private baseGet(sid: string): Promise<StoredRecord | null> {
    return new Promise((resolve, reject) =>
      this.o.base.get(sid, (err, data) => (err ? reject(err) : resolve((data as StoredRecord | null) ?? null))),
    );
  }

  private baseSet(sid: string, record: StoredRecord): Promise<void> {
    return new Promise((resolve, reject) => this.o.base.set(sid, record, (err) => (err ? reject(err) : resolve())));
  }

  private baseDestroy(sid: string): Promise<void> {
    return new Promise((resolve, reject) => this.o.base.destroy(sid, (err) => (err ? reject(err) : resolve())));
  }

  // ---- reading ----------------------------------------------------------------

  /** The current record, or null when there is none or it is past its idle deadline. */
  async read(sid: string): Promise<LiveRecord | null> {
    const record = await this.baseGet(sid);
    if (!record) return null;
    const { _live, ...data } = record;
    const now = Date.now();
    const meta = _live ?? { v: 0, exp: now + this.o.ttlMs, createdAt: now, seenAt: now };
    if (meta.exp <= now) return null;
    return { data: data as SessionFields, meta };
  }

  /** The version and deadline a request's session was loaded at (undefined for a new session). */
  metaOf(sess: object): LiveMeta | undefined {
    return this.bases.get(sess)?.meta;
  }

  override get(sid: string, cb: (err: unknown, session?: session.SessionData | null) => void): void {
    this.read(sid).then((loaded) => {
      if (!loaded) return cb(null, null);
      this.bases.set(loaded.data, { meta: loaded.meta, snapshot: snapshotOf(loaded.data) });
      cb(null, loaded.data);
    }, cb);
  }

  /** express-session builds req.session from what get() returned: carry the basis over to it. */
  override createSession(req: Request, data: session.SessionData): session.Session & session.SessionData {
    const basis = this.bases.get(data);
    const created = super.createSession(req, data);
    if (basis) this.bases.set(created, basis);
    return created;
  }

  // ---- writing ----------------------------------------------------------------

  override set(sid: string, sess: session.SessionData, cb?: Callback): void {
    this.save(sid, sess).then(() => cb?.(), (err) => (cb ? cb(err) : this.o.log.error({ err }, 'session save failed')));
  }

  /** Versioned save of a whole session object (the HTTP path). */
  async save(sid: string, sess: object): Promise<void> {
    const basis = this.bases.get(sess);
    const next = plain(sess);
    const written = await this.o.lock.withLock(sid, async () => {
      const current = await this.read(sid);
      if (!current && basis) return null; // destroyed (logout, revocation) while this request ran: never resurrect it
      const data =
        !current || !basis || basis.meta.v === current.meta.v ? next : mergeChanges(current.data, basis.snapshot, next);
      return this.put(sid, data, current);
    });
    if (written) this.bases.set(sess, { meta: written.meta, snapshot: snapshotOf(next) });
  }

  /**
   * Read-apply-write under the session's lock (the socket path). `apply` mutates
   * the data; returning false means "no change". Resolves to the new record, or
   * null when the session no longer exists.
   */
  async update(sid: string, apply: (data: SessionFields) => boolean | void): Promise<LiveRecord | null> {
    return this.o.lock.withLock(sid, async () => {
      const current = await this.read(sid);
      if (!current) return null;
      const data = structuredClone(current.data);
      if (apply(data) === false) return current;
      return this.put(sid, data, current);
    });
  }

  /** Writes under the lock already held; publishes when an existing session changed. */
  private async put(sid: string, data: SessionFields, current: LiveRecord | null): Promise<LiveRecord> {
    const now = Date.now();
    const meta: LiveMeta = {
      v: (current?.meta.v ?? 0) + 1,
      exp: now + (userOf(data) ? this.o.ttlMs : this.o.anonymousTtlMs),
      createdAt: current?.meta.createdAt ?? now,
      seenAt: now,
    };
    await this.baseSet(sid, { ...data, _live: meta });
    const before = userOf(current?.data);
    const after = userOf(data);
    if (after && after !== before) await this.o.index.add(after, sid);
    if (before && before !== after) await this.o.index.remove(before, sid);
    // Sockets only ever belong to sessions that existed before this write.
    if (current) await this.o.bus.publish({ t: 'session', sid });
    return { data, meta };
  }

  /** express-session calls this for an unchanged session on each request: activity. */
  override touch(sid: string, sess: session.SessionData, cb?: Callback): void {
    const basis = this.bases.get(sess);
    if (basis && !this.touchDue(basis.meta)) {
      cb?.();
      return;
    }
    this.extend(sid).then(() => cb?.(), (err) => (cb ? cb(err) : undefined));
  }

  /** True when enough time has passed since the last recorded activity to write a new deadline. */
  touchDue(meta: LiveMeta, now = Date.now()): boolean {
    return now - meta.seenAt >= Math.min(this.o.touchEveryMs, (meta.exp - meta.seenAt) / 10);
  }

  /** Pushes the idle deadline out (activity). No-op when the session is gone. */
  async extend(sid: string): Promise<void> {
    await this.update(sid, () => true);
  }

  // ---- ending -----------------------------------------------------------------

  /** express-session's destroy (logout, Passport's regenerate) ends the session as a logout. */
  override destroy(sid: string, cb?: Callback): void {
    this.end(sid, 'logout').then(() => cb?.(), (err) => (cb ? cb(err) : undefined));
  }

  /** Deletes the session and tells every process holding its sockets why. */
  async end(sid: string, reason: EndReason): Promise<void> {
    await this.o.lock.withLock(sid, async () => {
      const current = await this.baseGet(sid);
      await this.baseDestroy(sid);
      const uid = userOf(current ?? undefined);
      if (uid) await this.o.index.remove(uid, sid);
    });
    await this.o.bus.publish({ t: 'session', sid, reason });
  }

  /** The live sessions of a user, pruning index entries whose record has gone (expiry). */
  async sessionsOf(userId: string): Promise<Array<{ sid: string } & LiveRecord>> {
    const sids = await this.o.index.list(userId);
    const found: Array<{ sid: string } & LiveRecord> = [];
    await Promise.all(
      sids.map(async (sid) => {
        const rec = await this.read(sid);
        if (rec && userOf(rec.data) === userId) found.push({ sid, ...rec });
        else await this.o.index.remove(userId, sid);
      }),
    );
    return found.sort((a, b) => a.meta.createdAt - b.meta.createdAt);
  }
}
