import { Router, type Request, type Response } from 'express';
import { isAppError } from '../errors.js';
import { changePassword, revokeOtherSessions, revokeSession } from '../auth/flows.js';
import { meBody, prefsBody } from '../auth/schemas.js';
import { renameUser } from '../auth/service.js';
import { mySessions } from '../auth/sessions.js';
import type { ApiDeps } from '../auth/api.js';
import { requireUserPage } from '../http/guards.js';
import { parseInput } from '../http/validate.js';
import { describeDevice } from './device.js';
import { emptyForm, formFailure, type FormState, type PageRenderer } from './forms.js';
import { relativeTime } from './relative-time.js';

/** What a redirect after a successful post says, by `?done=`; only these fixed texts are ever shown. */
const NOTICES = {
  'signed-out': { section: 'sessions', text: 'Signed out of that session.' },
  'signed-out-others': { section: 'sessions', text: 'Signed out of every other session.' },
  password: { section: 'password', text: 'Password changed. Every other session was signed out; this one stays signed in.' },
} as const;
type Done = keyof typeof NOTICES;

/** The state of the page's forms and messages, beyond the session rows (read afresh on every render). */
interface SettingsState {
  profile?: FormState;
  saved?: boolean;
  password?: FormState;
  sessionsError?: string;
  done?: Done;
}

const when = (date: Date, now: Date) => ({ iso: date.toISOString(), ago: relativeTime(date, now) });

/** The user's sessions as rows: this one first (active now), then the most recently active. */
async function sessionRows(deps: ApiDeps, req: Request) {
  const now = new Date();
  const rows = (await mySessions(deps.live, req)).map((s) => ({
    id: s.id,
    current: s.current,
    device: describeDevice(s.userAgent),
    signedIn: when(s.createdAt, now),
    active: when(s.current ? now : s.lastSeenAt, now),
    order: s.current ? Infinity : s.lastSeenAt.getTime(),
  }));
  return rows.sort((a, b) => b.order - a.order);
}

/** A wrong current password past the failed-login limits: said in words, with when to try again. */
function passwordFailure(err: unknown, body: unknown, res: Response): { status: number; form: FormState } {
  if (isAppError(err) && err.code === 'rate_limited') {
    const minutes = Math.max(1, Math.ceil((err.retryAfterSeconds ?? 60) / 60));
    if (err.retryAfterSeconds) res.set('Retry-After', String(err.retryAfterSeconds));
    return { status: err.status, form: { values: {}, errors: {}, error: `Too many wrong passwords. Try again in ${minutes} minute${minutes === 1 ? '' : 's'}.` } };
  }
  return formFailure(err, body, []);
}

/**
 * `/settings`: the profile (display name, this device's theme), where the user is
 * signed in (each session can be signed out, or every other one at once), and the
 * password. Plain forms, redirected after a successful post; the client script
 * only improves them.
 */
export function settingsPages(deps: ApiDeps, render: PageRenderer): Router {
  const r = Router();

  const show = async (req: Request, res: Response, state: SettingsState = {}) => {
    const prefs = { displayName: req.user!.displayName, theme: req.session.prefs?.theme ?? 'system' };
    render(req, res, 'settings', {
      title: 'Settings',
      form: state.profile ?? emptyForm(prefs),
      saved: state.saved ?? false,
      passwordForm: state.password ?? emptyForm(),
      sessions: await sessionRows(deps, req),
      sessionsError: state.sessionsError ?? null,
      notice: state.done ? NOTICES[state.done] : null,
    });
  };
  const done = (res: Response, what: Done) => res.redirect(303, `/settings?done=${what}#${NOTICES[what].section}`);

  r.get('/settings', requireUserPage, async (req, res) => {
    const asked = String(req.query.done ?? '');
    await show(req, res, Object.hasOwn(NOTICES, asked) ? { done: asked as Done } : {});
  });

  r.post('/settings', requireUserPage, async (req, res) => {
    try {
      const { displayName } = parseInput(meBody, req.body);
      const { theme } = parseInput(prefsBody, req.body);
      const renamed = await renameUser(deps.stores, req.user!.id, displayName);
      if (renamed) req.user = renamed;
      req.session.prefs = { ...req.session.prefs, theme };
      await show(req, res, { profile: emptyForm({ displayName, theme }), saved: true });
    } catch (err) {
      const { status, form } = formFailure(err, req.body, ['displayName', 'theme']);
      res.status(status);
      await show(req, res, { profile: form });
    }
  });

  r.post('/settings/sessions/:id/revoke', requireUserPage, async (req, res) => {
    if (await revokeSession(deps, req, String(req.params.id))) return done(res, 'signed-out');
    res.status(404);
    await show(req, res, { sessionsError: 'That session is not one of yours, or it has already ended.' });
  });

  r.post('/settings/sessions/revoke-others', requireUserPage, async (req, res) => {
    await revokeOtherSessions(deps, req);
    done(res, 'signed-out-others');
  });

  r.post('/settings/password', requireUserPage, async (req, res) => {
    try {
      await changePassword(deps, req);
    } catch (err) {
      const { status, form } = passwordFailure(err, req.body, res);
      res.status(status);
      return show(req, res, { password: form });
    }
    // The session is on a new id, saved with its new credential version and this device's choices (auth/flows.ts).
    done(res, 'password');
  });

  return r;
}
