import type { IncomingMessage } from 'node:http';
import type { Request } from 'express';
import proxyaddr from 'proxy-addr';
import { sessionHandle } from 'socket.io-live-session';
import type { Logger } from '../logger.js';

/** The security events of PROTOCOL.md ("Operations"). */
export type AuditName =
  | 'register'
  | 'login'
  | 'login_failed'
  | 'logout'
  | 'password_changed'
  | 'session_revoked'
  | 'handshake_refused'
  | 'origin_refused'
  | 'csrf_refused'
  | 'rate_limited';

/**
 * What an audit line may hold: a closed set of fields, none of which can carry a
 * password, a cookie, a session id or a CSRF token. `session` is the opaque handle
 * of `GET /api/sessions` (socket.io-live-session's `sessionHandle`), never the id.
 */
export interface AuditFields {
  /** The username, when known (for a failed login: the one tried). */
  user?: string | undefined;
  /** The client address (behind TRUST_PROXY, the forwarded one). */
  ip?: string | undefined;
  /** The opaque handle of the session the event happened in (or ended). */
  session?: string | null | undefined;
  /** Why: an error code or a refusal's reason. */
  reason?: string | undefined;
  /** The rate limit that refused (config.ts's names, or `in_flight`). */
  limit?: string | undefined;
  /** The refused request's Origin header. */
  origin?: string | undefined;
  /** Where: the HTTP method and route path, or `socket`. */
  method?: string | undefined;
  path?: string | undefined;
  /** A client event's name. */
  event?: string | undefined;
  /** The handle of a session ended by another (`session_revoked`), or `others`. */
  target?: string | undefined;
  /** How many sessions a revocation ended. */
  count?: number | undefined;
}

/** Writes one audit line: level info, `"audit": name`, the given fields (unset ones left out), message `audit`. */
export function audit(log: Logger, name: AuditName, fields: AuditFields): void {
  const line: Record<string, unknown> = { audit: name };
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) line[k] = v;
  log.info(line, 'audit');
}

/** Who an HTTP request is: its user (when logged in), its address (`req.ip`) and its session's handle. */
export function requestSubject(req: Request): Pick<AuditFields, 'user' | 'ip' | 'session'> {
  return { user: req.user?.username, ip: req.ip, session: req.sessionID ? sessionHandle(req.sessionID) : null };
}

/** A request's path as the client sent it (under a mounted router too), without the query string (which may hold anything). */
export const pathOf = (req: Request) => req.originalUrl.split('?')[0];

/** Express's compiled `trust proxy fn` (`app.get('trust proxy fn')`): a proxy-addr trust function. */
export type TrustProxy = (address: string, hop: number) => boolean;

/** What the client address is read from: the peer address and the X-Forwarded-For header. */
export type AddressSource = { headers: IncomingMessage['headers']; socket: { remoteAddress?: string | undefined } };

/**
 * The client address of a raw request (a socket's handshake, an Engine.IO request),
 * exactly as Express computes `req.ip`: proxy-addr (Express's own) with the app's
 * compiled `trust proxy fn`. Without a trusted proxy, the peer address.
 */
export function clientAddress(req: AddressSource, trust: TrustProxy): string | undefined {
  if (req.socket.remoteAddress === undefined) return undefined;
  return proxyaddr(req as IncomingMessage, trust);
}
