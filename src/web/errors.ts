import type { ErrorRequestHandler, Request } from 'express';
import {
  ClientClosedError,
  ClientOfflineError,
  ConnectionTimeoutError,
  ReconnectStrategyError,
  SocketClosedUnexpectedlyError,
} from 'redis';
import { SessionEndedError } from 'socket.io-live-session';
import { AppError, isAppError } from '../errors.js';
import type { Logger } from '../logger.js';

/** node-redis errors that mean "Redis is not reachable right now". */
const UNAVAILABLE = [ClientClosedError, ClientOfflineError, ConnectionTimeoutError, SocketClosedUnexpectedlyError, ReconnectStrategyError];

export function isUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return UNAVAILABLE.some((type) => err instanceof type) || /ECONNREFUSED|ECONNRESET/.test(err.message);
}

/** Maps anything thrown to the error a client may see. */
export function toAppError(err: unknown): AppError {
  if (isAppError(err)) return err;
  if (err instanceof SessionEndedError) return new AppError('unauthorized', 'session ended');
  const e = err as { type?: string; status?: number } | undefined;
  if (e?.type === 'entity.too.large') return new AppError('bad_request', 'request body too large');
  if (e?.type === 'entity.parse.failed') return new AppError('bad_request', 'malformed request body');
  if (e?.type === 'charset.unsupported' || e?.type === 'encoding.unsupported') return new AppError('bad_request', 'unsupported encoding');
  if (isUnavailable(err)) return new AppError('unavailable', 'a backing service is unavailable; try again shortly');
  return new AppError('internal', 'internal error');
}

const wantsJson = (req: Request) => req.path.startsWith('/api/') || !req.accepts('html');

/** The one HTTP error path: `{error:{code,message}}` for the API, a plain page otherwise. */
export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err, req, res, next) => {
    if (res.headersSent) return next(err);
    const appErr = toAppError(err);
    if (appErr.code === 'internal') log.error({ err, method: req.method, path: req.path, user: req.user?.username }, 'request failed');
    else if (appErr.code === 'unavailable') log.warn({ err: String(err), path: req.path }, 'request failed: backend unavailable');
    if (appErr.retryAfterSeconds) res.set('Retry-After', String(appErr.retryAfterSeconds));
    const status = (err as { type?: string })?.type === 'entity.too.large' ? 413 : appErr.status;
    res.status(status);
    if (wantsJson(req)) res.json({ error: { code: appErr.code, message: appErr.message } });
    else res.render('error', { title: 'Error', status, message: appErr.message, user: req.user ?? null });
  };
}
