import type { Cookie } from 'express-session';

export type Theme = 'light' | 'dark' | 'system';
export interface Prefs {
  theme?: Theme;
}

declare module 'express-session' {
  interface SessionData {
    passport?: { user?: string };
    prefs?: Prefs;
    lastRoomId?: string;
    userAgent?: string;
  }
}

export type EndReason = 'logout' | 'revoked' | 'expired';

/** Bookkeeping the live store keeps inside each stored record. */
export interface LiveMeta {
  /** Incremented by every write: a write based on an older version is merged, not replayed. */
  v: number;
  /** ms epoch of the idle deadline. */
  exp: number;
  createdAt: number;
  /** ms epoch of the last write or touch. */
  seenAt: number;
}

/** The session data as handlers see it (express-session's SessionData, without our bookkeeping). */
export type SessionFields = import('express-session').SessionData & { cookie: Cookie };
export type StoredRecord = SessionFields & { _live?: LiveMeta };
