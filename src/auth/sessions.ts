import type { Request } from 'express';
import type { LiveSession } from 'socket.io-live-session';
import { currentUser } from '../http/guards.js';

/** One of the user's live sessions, as `GET /api/sessions` and the settings page show it. */
export interface MySession {
  /** The opaque handle (never the cookie's session id). */
  id: string;
  /** This request's own session. */
  current: boolean;
  createdAt: Date;
  lastSeenAt: Date;
  userAgent: string | null;
}

/** The logged-in user's live sessions, oldest first. */
export async function mySessions(live: LiveSession, req: Request): Promise<MySession[]> {
  const current = live.handle(req);
  return (await live.sessionsOf(currentUser(req).id)).map((s) => ({
    id: s.handle,
    current: s.handle === current,
    createdAt: s.createdAt,
    lastSeenAt: s.lastSeenAt,
    userAgent: s.data.userAgent ?? null,
  }));
}
