import cors from 'cors';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import helmet from 'helmet';
import { csrfSync } from 'csrf-sync';
import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';
import { audit, pathOf, requestSubject } from '../ops/audit.js';
import type { OriginPolicy } from 'socket.io-live-session';

/** helmet with a CSP that allows only the app's own scripts, styles and sockets: no inline code. */
export function securityHeaders(production: boolean): RequestHandler {
  return helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        fontSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        ...(production ? { upgradeInsecureRequests: [] } : {}),
      },
    },
    strictTransportSecurity: production,
    // Not helmet's default `no-referrer`: under it browsers send `Origin: null` on
    // same-origin form posts, which the origin policy (rightly) refuses.
    referrerPolicy: { policy: 'same-origin' },
  });
}

/**
 * Refuses API and state-changing requests from foreign origins (see origin.ts), each
 * with an `origin_refused` audit line (it runs before the session is read: no user, no session).
 */
export function originGuard(policy: OriginPolicy, log: Logger, scope: 'all' | 'unsafe-methods'): RequestHandler {
  return (req, _res, next) => {
    if (scope === 'unsafe-methods' && SAFE_METHODS.has(req.method)) return next();
    const verdict = policy.verdict(req);
    if (policy.isAllowed(verdict)) return next();
    audit(log, 'origin_refused', { ip: req.ip, origin: req.headers.origin, reason: verdict, method: req.method, path: pathOf(req) });
    next(new AppError('forbidden', 'origin not allowed'));
  };
}

/** CORS with credentials, for ALLOWED_ORIGINS only; other origins get no CORS headers. */
export function corsForAllowedOrigins(policy: OriginPolicy): RequestHandler {
  return cors({
    origin: (origin, cb) => cb(null, origin !== undefined && policy.allowed.has(origin)),
    credentials: true,
    allowedHeaders: ['content-type', 'x-csrf-token'],
    methods: ['GET', 'POST', 'PATCH', 'PUT', 'DELETE'],
    maxAge: 600,
  });
}

/** Pages and API answers carry CSRF tokens and personal data: no browser or proxy may keep them. */
export const noStore: RequestHandler = (_req, res, next) => {
  res.set('Cache-Control', 'no-store');
  next();
};

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** How many random bytes a CSRF token has (OWASP asks for at least 16). */
export const CSRF_TOKEN_BYTES = 32;

/** Synchronizer-token CSRF (csrf-sync): header `x-csrf-token` or form field `_csrf`; a refusal is audited (`csrf_refused`). */
export function createCsrf(log: Logger) {
  const csrf = csrfSync({
    // 32 random bytes (256 bits, as hex): csrf-sync's default is 128, which every session then
    // carries, and every handshake copies and hashes (express-session), for no added safety.
    size: CSRF_TOKEN_BYTES,
    getTokenFromRequest: (req) => {
      const header = req.headers['x-csrf-token'];
      if (typeof header === 'string') return header;
      const field = (req.body as Record<string, unknown> | undefined)?._csrf;
      return typeof field === 'string' ? field : undefined;
    },
  });
  const protect: RequestHandler = (req: Request, res: Response, next: NextFunction) =>
    csrf.csrfSynchronisedProtection(req, res, (err?: unknown) => {
      if (err === undefined) return next();
      audit(log, 'csrf_refused', { ...requestSubject(req), method: req.method, path: pathOf(req) });
      next(new AppError('csrf', 'missing or invalid CSRF token'));
    });
  return { protect, generateToken: csrf.generateToken };
}
