import type { Request, Response } from 'express';
import { AppError } from '../errors.js';
import type { User } from '../chat/types.js';
import type { LiveSessionStore } from '../session/live-store.js';
import type { Stores } from '../store/types.js';
import { loginBody, registerBody } from './schemas.js';
import { parseInput } from '../web/validate.js';
import type { AppPassport } from './passport.js';
import { registerUser, toPublicUser, type LoginLimiter } from './service.js';

export interface AuthDeps {
  stores: Stores;
  passport: AppPassport;
  loginLimiter: LoginLimiter;
  sessions: LiveSessionStore;
}

/** Passport's req.login as a promise: regenerates the session id (no fixation) and stores the user. */
function logIn(req: Request, user: User): Promise<void> {
  return new Promise((resolve, reject) => req.logIn(user, (err) => (err ? reject(err) : resolve())));
}

/** Runs passport-local; resolves to the user or false. */
function authenticateLocal(deps: AuthDeps, req: Request, res: Response): Promise<User | false> {
  return new Promise((resolve, reject) => {
    deps.passport.authenticate('local', { session: false }, (err: unknown, user: User | false) =>
      err ? reject(err) : resolve(user),
    )(req, res, (err?: unknown) => reject(err));
  });
}

/** What a fresh login leaves in the new session besides the user. */
function startSession(req: Request) {
  const ua = req.get('user-agent');
  if (ua) req.session.userAgent = ua.slice(0, 200);
}

export async function register(deps: AuthDeps, req: Request): Promise<User> {
  const input = parseInput(registerBody, req.body);
  const user = toPublicUser(await registerUser(deps.stores, input));
  await logIn(req, user);
  startSession(req);
  return user;
}

export async function login(deps: AuthDeps, req: Request, res: Response): Promise<User> {
  const { username } = parseInput(loginBody, req.body);
  await deps.loginLimiter.assertAllowed(username);
  const user = await authenticateLocal(deps, req, res);
  if (!user) {
    await deps.loginLimiter.failed(username);
    throw new AppError('invalid_credentials', 'wrong username or password');
  }
  await deps.loginLimiter.succeeded(username);
  await logIn(req, user);
  startSession(req);
  return user;
}

/** Ends the session (its sockets everywhere get `session:ended {reason:"logout"}`). */
export async function logout(req: Request): Promise<void> {
  // Passport saves the session without the user, then regenerates it: the old
  // record is destroyed through the live store, which tells every process.
  await new Promise<void>((resolve, reject) => req.logout((err) => (err ? reject(err) : resolve())));
}
