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
    /** The user's credential version when this session logged in (see StoredUser.credentialVersion). */
    credentialVersion?: number;
  }
}

/**
 * Whether a session's login is still valid for the user's current credentials:
 * a password change increments the user's version, and every session that
 * logged in with an older one (even a login that raced the change) is not
 * logged in any more. Sessions from before versions existed count as version 0.
 */
export const credentialsCurrent = (data: { credentialVersion?: number }, user: { credentialVersion: number }) =>
  (data.credentialVersion ?? 0) === user.credentialVersion;

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
