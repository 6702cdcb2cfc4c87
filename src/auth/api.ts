import { createHash } from 'node:crypto';
import { Router, type Request } from 'express';
import { AppError } from '../errors.js';
import { currentUser, requireUser } from '../web/guards.js';
import { parseInput } from '../web/validate.js';
import { changePassword, endOtherSessions, login, logout, register, type AuthDeps } from './flows.js';
import { meBody, prefsBody } from './schemas.js';
import { toPublicUser } from './service.js';

/** An opaque, stable handle for a session: never the cookie's session id. */
export const sessionHandle = (sid: string) => createHash('sha256').update(sid).digest('base64url').slice(0, 22);

export interface ApiDeps extends AuthDeps {
  generateCsrfToken: (req: Request, overwrite?: boolean) => string;
}

/** The JSON API of identity: auth, profile, prefs and session management. */
export function authApi(deps: ApiDeps): Router {
  const r = Router();
  const { stores, sessions } = deps;

  r.get('/csrf', (req, res) => {
    res.json({ csrfToken: deps.generateCsrfToken(req) });
  });

  // Login and register rotate the CSRF token with the session; the new one is returned.
  r.post('/register', async (req, res) => {
    const user = await register(deps, req);
    res.status(201).json({ user, csrfToken: deps.generateCsrfToken(req, true) });
  });

  r.post('/login', async (req, res) => {
    const user = await login(deps, req, res);
    res.json({ user, csrfToken: deps.generateCsrfToken(req, true) });
  });

  r.post('/logout', async (req, res) => {
    if (req.user) await logout(req);
    res.status(204).end();
  });

  r.get('/me', requireUser, (req, res) => {
    res.json({ user: currentUser(req), prefs: req.session.prefs ?? {}, lastRoomId: req.session.lastRoomId ?? null });
  });

  r.patch('/me', requireUser, async (req, res) => {
    const { displayName } = parseInput(meBody, req.body);
    const updated = await stores.users.update(currentUser(req).id, { displayName });
    if (!updated) throw new AppError('not_found', 'user not found');
    await stores.bus.publish({ t: 'user', uid: updated.id });
    res.json({ user: toPublicUser(updated) });
  });

  r.patch('/prefs', requireUser, (req, res) => {
    const changes = parseInput(prefsBody, req.body);
    req.session.prefs = { ...req.session.prefs, ...changes };
    res.json({ prefs: req.session.prefs });
  });

  // Every other session of the user ends (`revoked`); this one continues on a new id, with a new CSRF token.
  r.post('/password', requireUser, async (req, res) => {
    await changePassword(deps, req);
    res.json({ csrfToken: deps.generateCsrfToken(req, true) });
  });

  r.get('/sessions', requireUser, async (req, res) => {
    const mine = await sessions.sessionsOf(currentUser(req).id);
    res.json({
      sessions: mine.map((s) => ({
        id: sessionHandle(s.sid),
        current: s.sid === req.sessionID,
        createdAt: new Date(s.meta.createdAt).toISOString(),
        lastSeenAt: new Date(s.meta.seenAt).toISOString(),
        userAgent: s.data.userAgent ?? null,
      })),
    });
  });

  r.delete('/sessions/:id', requireUser, async (req, res) => {
    const mine = await sessions.sessionsOf(currentUser(req).id);
    const target = mine.find((s) => sessionHandle(s.sid) === req.params.id);
    if (!target) throw new AppError('not_found', 'no such session');
    await sessions.end(target.sid, 'revoked');
    res.status(204).end();
  });

  r.post('/sessions/revoke-others', requireUser, async (req, res) => {
    await endOtherSessions(sessions, currentUser(req).id, req.sessionID);
    res.status(204).end();
  });

  return r;
}
