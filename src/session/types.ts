import type { SessionData } from 'express-session';

export type Theme = 'light' | 'dark' | 'system';
export interface Prefs {
  theme?: Theme;
}

/** What the chat keeps in a session (Passport keeps `passport.user`, csrf-sync its token). */
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

/** The chat's fields of a session, as socket.io-live-session hands them out. */
export type ChatSession = Readonly<Omit<SessionData, 'cookie'>>;

/**
 * Whether a session's login is still valid for the user's current credentials:
 * a password change increments the user's version, and every session that
 * logged in with an older one (even a login that raced the change) is not
 * logged in any more. Sessions from before versions existed count as version 0.
 */
export const credentialsCurrent = (data: { credentialVersion?: number }, user: { credentialVersion: number }) =>
  (data.credentialVersion ?? 0) === user.credentialVersion;

/** The chat's own message on the session bus: a user's record changed (display name, password). */
export interface UserChanged {
  t: 'user';
  uid: string;
  [field: string]: unknown;
}

export const isUserChanged = (m: { t: string }): m is UserChanged => m.t === 'user' && typeof (m as UserChanged).uid === 'string';
