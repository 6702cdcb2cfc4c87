import type { Request, Response } from 'express';
import type { SessionData } from 'express-session';
import { AppError } from '../errors.js';
import type { User } from '../chat/types.js';
import { addressKey, guardedPasswordCheck, LimitExceeded, type RateLimits } from '../security/limits.js';
import type { LiveSession } from 'socket.io-live-session';
import type { Logger } from '../logger.js';
import { audit, requestSubject, type AuditFields, type AuditName } from '../ops/audit.js';
import { currentUser } from '../http/guards.js';
import { parseInput } from '../http/validate.js';
import { hashPassword } from './passwords.js';
import type { AppPassport } from './passport.js';
import { loginBody, passwordBody, registerBody } from './schemas.js';
import { publicUser } from '../chat/users.js';
import { checkCredentials, registerUser, toVerifiedUser, type IdentityStores, type VerifiedUser } from './service.js';

export interface AuthDeps {
  stores: IdentityStores;
  passport: AppPassport;
  limits: RateLimits;
  live: LiveSession;
  /** Where the audit lines go (PROTOCOL.md "Operations"): every flow here writes its own, for the API and the pages alike. */
  log: Logger;
}

/** An audit line about `req`: its user, address and session's handle (as they are now), with `fields` over them. */
const auditReq = (deps: AuthDeps, req: Request, name: AuditName, fields: AuditFields) =>
  audit(deps.log, name, { ...requestSubject(req), ...fields });

/** Passport's req.login as a promise: regenerates the session id (no fixation) and stores the user. */
function passportLogIn(req: Request, user: User): Promise<void> {
  return new Promise((resolve, reject) => req.logIn(user, (err) => (err ? reject(err) : resolve())));
}

/** Runs passport-local; resolves to the verified user or false. */
function authenticateLocal(deps: AuthDeps, req: Request, res: Response): Promise<VerifiedUser | false> {
  return new Promise((resolve, reject) => {
    deps.passport.authenticate('local', { session: false }, (err: unknown, user: VerifiedUser | false) =>
      err ? reject(err) : resolve(user),
    )(req, res, (err?: unknown) => reject(err));
  });
}

/** Who a password check is counted against: the username, and the client address (behind TRUST_PROXY, the forwarded one). */
const attemptBy = (req: Request, username: string) => ({ username, address: addressKey(req.ip) });

/** guardedPasswordCheck, with the audit line of a failed check (`login_failed`) or a refused one (`rate_limited`). */
async function auditedPasswordCheck<T>(deps: AuthDeps, req: Request, username: string, reason: string, check: () => Promise<T | null | false>) {
  let result: T | null;
  try {
    result = await guardedPasswordCheck(deps.limits, attemptBy(req, username), check);
  } catch (err) {
    if (err instanceof LimitExceeded) auditReq(deps, req, 'rate_limited', { user: username, limit: err.limit });
    throw err;
  }
  if (!result) auditReq(deps, req, 'login_failed', { user: username, reason });
  return result;
}

/**
 * Logs `user` in on a new session id (the old record is destroyed, ending its
 * sockets), remembering the credential version the password was verified
 * against: a later password change makes this login invalid. `keep`: this
 * device's own choices, carried over to the new session (a password change).
 *
 * Saved here, before anything is answered: express-session would save it only as
 * the response ends, after the headers are out, and a browser follows a redirect
 * on its headers; until then the stored session would lack its credential version,
 * and the next page would find it signed out.
 */
async function startSession(req: Request, user: VerifiedUser, keep: Pick<SessionData, 'prefs' | 'lastRoomId'> = {}): Promise<void> {
  await passportLogIn(req, publicUser(user));
  req.session.credentialVersion = user.credentialVersion;
  const ua = req.get('user-agent');
  if (ua) req.session.userAgent = ua.slice(0, 200);
  if (keep.prefs) req.session.prefs = keep.prefs;
  if (keep.lastRoomId) req.session.lastRoomId = keep.lastRoomId;
  await new Promise<void>((resolve, reject) => req.session.save((err) => (err ? reject(err) : resolve())));
}

export async function register(deps: AuthDeps, req: Request): Promise<User> {
  const input = parseInput(registerBody, req.body);
  const user = toVerifiedUser(await registerUser(deps.stores, input));
  await startSession(req, user);
  auditReq(deps, req, 'register', { user: user.username });
  return publicUser(user);
}

/** The failed-login limits count the attempt before the password is checked (see guardedPasswordCheck). */
export async function login(deps: AuthDeps, req: Request, res: Response): Promise<User> {
  const { username } = parseInput(loginBody, req.body);
  const user = await auditedPasswordCheck(deps, req, username, 'invalid_credentials', () => authenticateLocal(deps, req, res));
  if (!user) throw new AppError('invalid_credentials', 'wrong username or password');
  await startSession(req, user);
  auditReq(deps, req, 'login', { user: user.username });
  return publicUser(user);
}

/** Ends the session (its sockets everywhere get `session:ended {reason:"logout"}`). */
export async function logout(deps: AuthDeps, req: Request): Promise<void> {
  const ending: AuditFields = { user: req.user?.username, session: deps.live.handle(req) };
  // Passport saves the session without the user, then regenerates it: the old
  // record is destroyed through the live store, which tells every process.
  await new Promise<void>((resolve, reject) => req.logout((err) => (err ? reject(err) : resolve())));
  auditReq(deps, req, 'logout', ending);
}

/**
 * Changes the logged-in user's password. A wrong current password counts
 * toward the failed-login limits, so a stolen session cannot guess it. The
 * change is a compare-and-set of the user's credential version: every session
 * that logged in with the old password, including a login that raced this
 * change, is no longer logged in. This session continues on a new id (the old
 * one is dead); every other session of the user ends (`revoked`).
 */
export async function changePassword(deps: AuthDeps, req: Request): Promise<void> {
  const { currentPassword, newPassword } = parseInput(passwordBody, req.body);
  const me = currentUser(req);
  const verified = await auditedPasswordCheck(deps, req, me.username, 'wrong_current_password', () =>
    checkCredentials(deps.stores, me.username, currentPassword),
  );
  if (!verified) throw fieldError('invalid_credentials', 'current password is wrong', 'currentPassword');
  const version = await deps.stores.users.changePassword(verified.id, verified.credentialVersion, await hashPassword(newPassword));
  if (version === null) throw fieldError('invalid_credentials', 'the password was changed meanwhile; try again', 'currentPassword');
  const { prefs, lastRoomId } = req.session;
  await startSession(req, { ...toVerifiedUser(verified), credentialVersion: version }, { prefs, lastRoomId });
  const revoked = await deps.live.revokeUser(me.id, { except: req });
  // Every process also re-checks the version of each session it holds for the user.
  await deps.stores.bus.publish({ t: 'user', uid: me.id });
  auditReq(deps, req, 'password_changed', { user: me.username, count: revoked });
}

/**
 * Ends one of the user's sessions, named by its opaque handle (`GET /api/sessions`):
 * its sockets everywhere get `session:ended {reason:"revoked"}`. False when the user
 * has no such session.
 */
export async function revokeSession(deps: AuthDeps, req: Request, handle: string): Promise<boolean> {
  const me = currentUser(req);
  const revoked = await deps.live.revoke(me.id, handle);
  if (revoked) auditReq(deps, req, 'session_revoked', { user: me.username, target: handle, count: 1 });
  return revoked;
}

/** Ends every session of the user but this one (`revoked`). */
export async function revokeOtherSessions(deps: AuthDeps, req: Request): Promise<void> {
  const me = currentUser(req);
  const count = await deps.live.revokeUser(me.id, { except: req });
  auditReq(deps, req, 'session_revoked', { user: me.username, target: 'others', count });
}

function fieldError(code: 'invalid_credentials', message: string, field: string): AppError {
  const err = new AppError(code, message);
  err.field = field;
  return err;
}
