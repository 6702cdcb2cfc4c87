import { Router, type Request } from 'express';
import { AppError } from '../errors.js';
import { currentUser, requireUser } from '../http/guards.js';
import { parseInput } from '../http/validate.js';
import { changePassword, login, logout, register, revokeOtherSessions, revokeSession, type AuthDeps } from './flows.js';
import { meBody, prefsBody } from './schemas.js';
import { renameUser } from './service.js';
import { mySessions } from './sessions.js';

export interface ApiDeps extends AuthDeps {
  generateCsrfToken: (req: Request, overwrite?: boolean) => string;
}

/** The JSON API of identity: auth, profile, prefs and session management. */
export function authApi(deps: ApiDeps): Router {
  const r = Router();
  const { live } = deps;

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
    if (req.user) await logout(deps, req);
    res.status(204).end();
  });

  r.get('/me', requireUser, (req, res) => {
    res.json({ user: currentUser(req), prefs: req.session.prefs ?? {}, lastRoomId: req.session.lastRoomId ?? null });
  });

  r.patch('/me', requireUser, async (req, res) => {
    const { displayName } = parseInput(meBody, req.body);
    const user = await renameUser(deps.stores, currentUser(req).id, displayName);
    if (!user) throw new AppError('not_found', 'user not found');
    res.json({ user });
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
    const mine = await mySessions(live, req);
    res.json({
      sessions: mine.map((s) => ({ ...s, createdAt: s.createdAt.toISOString(), lastSeenAt: s.lastSeenAt.toISOString() })),
    });
  });

  r.delete('/sessions/:id', requireUser, async (req, res) => {
    if (!(await revokeSession(deps, req, String(req.params.id)))) throw new AppError('not_found', 'no such session');
    res.status(204).end();
  });

  r.post('/sessions/revoke-others', requireUser, async (req, res) => {
    await revokeOtherSessions(deps, req);
    res.status(204).end();
  });

  return r;
}
