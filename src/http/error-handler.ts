import type { ErrorRequestHandler, Request } from 'express';
import type { ErrorMapper } from '../errors.js';
import type { Logger } from '../logger.js';

const wantsJson = (req: Request) => req.path.startsWith('/api/') || !req.accepts('html');

/** The one HTTP error path: `{error:{code,message}}` for the API, a plain page otherwise. */
export function errorHandler(log: Logger, toAppError: ErrorMapper): ErrorRequestHandler {
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
