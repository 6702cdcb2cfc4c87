/** Instruments and fakes around express-session stores. */
import session, { type SessionData, type Store } from 'express-session';

type Cb = (err?: unknown, value?: unknown) => void;

/** Counts the calls of a store's methods (on the instance; the store keeps working). */
export function countCalls(store: Store) {
  const counts = { get: 0, set: 0, destroy: 0, touch: 0 };
  const bag = store as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const name of Object.keys(counts) as Array<keyof typeof counts>) {
    const original = bag[name];
    if (typeof original !== 'function') continue;
    bag[name] = (...args: unknown[]) => {
      counts[name]++;
      return original.apply(store, args);
    };
  }
  return counts;
}

/**
 * The least a store can be: get, set and destroy over a Map, no touch. `fail`
 * makes chosen methods call back with an error (a store that is down); `drop`
 * forgets a record as a store's own expiry would.
 */
export class MinimalStore extends session.Store {
  readonly records = new Map<string, string>();
  readonly failing = new Set<'get' | 'set' | 'destroy'>();

  private failure(method: 'get' | 'set' | 'destroy') {
    return this.failing.has(method) ? new Error(`the store is down (${method})`) : undefined;
  }

  /** While set, gets wait for it (a read in flight, held there). */
  private held: Promise<void> | undefined;

  override get(sid: string, cb: (err: unknown, session?: SessionData | null) => void) {
    const err = this.failure('get');
    const raw = this.records.get(sid);
    const answer = () => (err ? cb(err) : cb(null, raw === undefined ? null : (JSON.parse(raw) as SessionData)));
    if (this.held) void this.held.then(answer);
    else setImmediate(answer);
  }

  /** Holds every get from now on (each answers with the record as it was asked for) until the returned release. */
  holdGets(): () => void {
    let release!: () => void;
    this.held = new Promise<void>((resolve) => (release = resolve));
    return () => {
      this.held = undefined;
      release();
    };
  }

  override set(sid: string, sess: SessionData, cb?: Cb) {
    const err = this.failure('set');
    if (!err) this.records.set(sid, JSON.stringify(sess));
    setImmediate(() => cb?.(err));
  }

  override destroy(sid: string, cb?: Cb) {
    const err = this.failure('destroy');
    if (!err) this.records.delete(sid);
    setImmediate(() => cb?.(err));
  }

  fail(...methods: Array<'get' | 'set' | 'destroy'>) {
    for (const m of methods) this.failing.add(m);
  }

  heal() {
    this.failing.clear();
  }

  /** Forgets a record behind the package's back. */
  drop(sid: string) {
    this.records.delete(sid);
  }
}

/** A record as a base store holds it: the data and the package's bookkeeping. */
export type BaseRecord = Record<string, unknown> & { _live?: { v: number; exp: number; createdAt: number; seenAt: number } };

/** Reads a record straight from a base store (under the package). */
export function baseGet(store: Store, sid: string): Promise<BaseRecord | null> {
  return new Promise((resolve, reject) => store.get(sid, (err, data) => (err ? reject(err) : resolve((data as BaseRecord | null | undefined) ?? null))));
}

/** Deletes a record straight from a base store (under the package). */
export function baseDestroy(store: Store, sid: string): Promise<void> {
  return new Promise((resolve, reject) => store.destroy(sid, (err) => (err ? reject(err) : resolve())));
}
