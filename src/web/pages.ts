import { Router, type Request, type Response } from 'express';
import { isAppError } from '../errors.js';
import { login, logout, register } from '../auth/flows.js';
import { listRoomsFor } from '../chat/rooms.js';
import { meBody, prefsBody } from '../auth/schemas.js';
import { renameUser } from '../auth/service.js';
import type { ApiDeps } from '../auth/api.js';
import type { ChatStore } from '../chat/ports.js';
import { requireUserPage } from '../http/guards.js';
import { parseInput } from '../http/validate.js';

type FormState = { values: Record<string, string>; errors: Record<string, string>; error?: string };

/** Form values to show again (never the password). */
function keepValues(body: unknown, fields: string[]): Record<string, string> {
  const b = (body ?? {}) as Record<string, unknown>;
  return Object.fromEntries(fields.map((f) => [f, typeof b[f] === 'string' ? (b[f] as string) : '']));
}

/** An expected failure (bad input, wrong password, limit) as form state; anything else is rethrown. */
function formFailure(err: unknown, body: unknown, fields: string[]): { status: number; form: FormState } {
  if (!isAppError(err) || err.status >= 500) throw err;
  const form: FormState = { values: keepValues(body, fields), errors: {} };
  if (err.field) form.errors[err.field] = err.message.replace(/^[^:]+: /, '');
  else form.error = err.message;
  return { status: err.status, form };
}

export interface PagesDeps extends ApiDeps {
  chat: ChatStore;
}

/** Server-rendered pages. Forms post urlencoded bodies with `_csrf` and work without JavaScript. */
export function pages(deps: PagesDeps): Router {
  const r = Router();
  const empty = (): FormState => ({ values: {}, errors: {} });

  const render = (req: Request, res: Response, view: string, locals: Record<string, unknown>) =>
    res.render(view, {
      user: req.user ?? null,
      theme: req.session?.prefs?.theme ?? 'system',
      csrfToken: deps.generateCsrfToken(req),
      ...locals,
    });

  r.get('/', (req, res) => res.redirect(302, req.user ? '/chat' : '/login'));

  r.get('/login', (req, res) => (req.user ? res.redirect(302, '/chat') : render(req, res, 'login', { title: 'Sign in', form: empty() })));
  r.get('/register', (req, res) =>
    req.user ? res.redirect(302, '/chat') : render(req, res, 'register', { title: 'Create account', form: empty() }),
  );

  r.post('/login', async (req, res) => {
    try {
      await login(deps, req, res);
      res.redirect(303, '/chat');
    } catch (err) {
      const { status, form } = formFailure(err, req.body, ['username']);
      res.status(status);
      render(req, res, 'login', { title: 'Sign in', form });
    }
  });

  r.post('/register', async (req, res) => {
    try {
      await register(deps, req);
      res.redirect(303, '/chat');
    } catch (err) {
      const { status, form } = formFailure(err, req.body, ['username', 'displayName']);
      res.status(status);
      render(req, res, 'register', { title: 'Create account', form });
    }
  });

  r.post('/logout', async (req, res) => {
    if (req.user) await logout(deps, req);
    res.redirect(303, '/login');
  });

  r.get('/chat', requireUserPage, async (req, res) => {
    // The room list is rendered on the server too, so the page is complete before the socket is up.
    const rooms = await listRoomsFor(deps.chat, req.user!);
    render(req, res, 'chat', { title: 'Chat', roomId: req.session.lastRoomId ?? 'general', rooms });
  });

  r.get('/settings', requireUserPage, (req, res) =>
    render(req, res, 'settings', {
      title: 'Settings',
      form: { values: { displayName: req.user!.displayName, theme: req.session.prefs?.theme ?? 'system' }, errors: {} },
      saved: false,
    }),
  );

  r.post('/settings', requireUserPage, async (req, res) => {
    try {
      const { displayName } = parseInput(meBody, req.body);
      const { theme } = parseInput(prefsBody, req.body);
      const renamed = await renameUser(deps.stores, req.user!.id, displayName);
      if (renamed) req.user = renamed;
      req.session.prefs = { ...req.session.prefs, theme };
      render(req, res, 'settings', { title: 'Settings', form: { values: { displayName, theme }, errors: {} }, saved: true });
    } catch (err) {
      const { status, form } = formFailure(err, req.body, ['displayName', 'theme']);
      res.status(status);
      render(req, res, 'settings', { title: 'Settings', form, saved: false });
    }
  });

  return r;
}
