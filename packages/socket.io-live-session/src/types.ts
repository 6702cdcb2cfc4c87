import type { SessionData } from 'express-session';

/** Why a session's sockets were ended (`session:ended {reason}`). */
export type EndReason = 'logout' | 'expired' | 'revoked';

/** A session record as the app sees it: express-session's data (and the cookie), with the app's own fields (declare them on express-session's SessionData). */
export type SessionFields = SessionData;

/** A socket's view of its session: a frozen copy, without the cookie. */
export type SessionSnapshot = Readonly<Omit<SessionFields, 'cookie'>>;

/** Bookkeeping kept inside each stored record, under `_live`. */
export interface LiveMeta {
  /** Incremented by every write: a write based on an older version is merged, not replayed. */
  v: number;
  /** ms epoch of the idle deadline. */
  exp: number;
  /** ms epoch of the session's first write. */
  createdAt: number;
  /** ms epoch of the last write or activity. */
  seenAt: number;
}

export type StoredRecord = SessionFields & { _live?: LiveMeta };

/** A record as read: its data and its bookkeeping. */
export interface LiveRecord {
  data: SessionFields;
  meta: LiveMeta;
}

/** Where the package logs (pino and console both fit). Nothing is logged without one. */
export interface Log {
  info?(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** Mutual exclusion per key, across every process that shares the bus. */
export interface KeyedLock {
  withLock<T>(key: string, fn: () => Promise<T>): Promise<T>;
}

/**
 * Which sessions each user has (by user key), for listing and revoking them.
 * `add` is called on every write of a logged-in session: the index forgets a
 * user `ttlMs` after the last one (by then every session of theirs expired too).
 */
export interface SessionIndex {
  add(userKey: string, sid: string, ttlMs: number): Promise<void>;
  remove(userKey: string, sid: string): Promise<void>;
  list(userKey: string): Promise<string[]>;
}

/** A bus message: the package's are `{t: 'session', sid, reason?}`; an app may send its own with another `t`. */
export interface BusMessage {
  t: string;
  [field: string]: unknown;
}

/**
 * How processes tell each other about session changes, and what they share to
 * write safely: a per-session lock and the index of each user's sessions.
 * `memoryBus()` is one process; `redisBus()` is any number on Redis.
 */
export interface LiveBus {
  /** Delivers to every process, this one included, asynchronously. */
  publish(message: BusMessage): Promise<void>;
  /** Returns the unsubscribe. */
  subscribe(listener: (message: BusMessage) => void): () => void;
  /** The bus was cut off (e.g. Redis went away): messages may be missed until the resync. */
  onCutOff(listener: () => void): void;
  /** The bus is back after a cut-off: whoever caches should re-read. */
  onResync(listener: () => void): void;
  readonly lock: KeyedLock;
  readonly index: SessionIndex;
}
