import session from 'express-session';

type Callback<T = unknown> = (err?: unknown, value?: T) => void;

/**
 * The in-memory session store. Unlike express-session's MemoryStore it expires
 * records by the idle deadline the live-session decorator writes (`_live.exp`),
 * the same rule the Redis store follows through its key TTL.
 */
export class MemorySessionStore extends session.Store {
  private readonly records = new Map<string, { json: string; exp: number }>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly expiresAt: (sess: session.SessionData) => number) {
    super();
    this.sweeper = setInterval(() => this.sweep(), 60_000);
    this.sweeper.unref();
  }

  private sweep() {
    const now = Date.now();
    for (const [sid, r] of this.records) if (r.exp <= now) this.records.delete(sid);
  }

  private read(sid: string) {
    const r = this.records.get(sid);
    if (r && r.exp <= Date.now()) {
      this.records.delete(sid);
      return undefined;
    }
    return r;
  }

  override get(sid: string, cb: Callback<session.SessionData | null>) {
    const r = this.read(sid);
    setImmediate(cb, null, r ? JSON.parse(r.json) : null);
  }

  override set(sid: string, sess: session.SessionData, cb?: Callback) {
    this.records.set(sid, { json: JSON.stringify(sess), exp: this.expiresAt(sess) });
    if (cb) setImmediate(cb, null);
  }

  override touch(sid: string, sess: session.SessionData, cb?: Callback) {
    const r = this.read(sid);
    if (r) r.exp = this.expiresAt(sess);
    if (cb) setImmediate(cb, null);
  }

  override destroy(sid: string, cb?: Callback) {
    this.records.delete(sid);
    if (cb) setImmediate(cb, null);
  }

  close() {
    clearInterval(this.sweeper);
  }
}
