import { Router } from 'express';
import { login, logout, register } from '../auth/flows.js';
import { listRoomsFor } from '../chat/rooms.js';
import type { ApiDeps } from '../auth/api.js';
import type { ChatStore } from '../chat/ports.js';
import { requireUserPage } from '../http/guards.js';
import { emptyForm, formFailure, type PageRenderer } from './forms.js';
import { settingsPages } from './settings.js';

export interface PagesDeps extends ApiDeps {
  chat: ChatStore;
}

/** Server-rendered pages. Forms post urlencoded bodies with `_csrf` and work without JavaScript. */
export function pages(deps: PagesDeps): Router {
  const r = Router();

  const render: PageRenderer = (req, res, view, locals) =>
    res.render(view, {
      user: req.user ?? null,
      theme: req.session?.prefs?.theme ?? 'system',
      csrfToken: deps.generateCsrfToken(req),
      ...locals,
    });

  r.get('/', (req, res) => res.redirect(302, req.user ? '/chat' : '/login'));

  r.get('/login', (req, res) => (req.user ? res.redirect(302, '/chat') : render(req, res, 'login', { title: 'Sign in', form: emptyForm() })));
  r.get('/register', (req, res) =>
    req.user ? res.redirect(302, '/chat') : render(req, res, 'register', { title: 'Create account', form: emptyForm() }),
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

  r.use(settingsPages(deps, render));

  return r;
}
