import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';

export type OriginVerdict = 'same-origin' | 'allowed' | 'no-origin' | 'foreign-origin' | 'cross-site';

const first = (h: string | string[] | undefined) => (Array.isArray(h) ? h[0] : h)?.split(',')[0]?.trim();

/**
 * The origin policy, for every Engine.IO request (polling and upgrade alike) and,
 * if the app wishes, every HTTP API request: the defence against cross-site
 * WebSocket hijacking that CORS does not give WebSockets.
 *
 * - An `Origin` header, when present, must be the server's own origin or one of
 *   `allowed` (`null` and anything else are refused).
 * - Without `Origin`, `Sec-Fetch-Site: cross-site` is refused.
 * - Requests with neither (curl, server-to-server clients) pass: they carry no
 *   ambient browser credentials an attacker could borrow.
 *
 * The server's own origin is the request's Host (with `trustProxy`, the proxy's
 * X-Forwarded-Host and X-Forwarded-Proto) and scheme.
 */
export function originPolicy(allowedOrigins: readonly string[], trustProxy = false) {
  const allowed = new Set(allowedOrigins);

  function ownOrigin(req: IncomingMessage): string | undefined {
    const host = (trustProxy && first(req.headers['x-forwarded-host'])) || req.headers.host;
    if (!host) return undefined;
    const proto = (trustProxy && first(req.headers['x-forwarded-proto'])) || ((req.socket as TLSSocket).encrypted ? 'https' : 'http');
    return `${proto}://${host}`;
  }

  function verdict(req: IncomingMessage): OriginVerdict {
    const origin = req.headers.origin;
    if (origin !== undefined) {
      if (origin === ownOrigin(req)) return 'same-origin';
      return allowed.has(origin) ? 'allowed' : 'foreign-origin';
    }
    return req.headers['sec-fetch-site'] === 'cross-site' ? 'cross-site' : 'no-origin';
  }

  const isAllowed = (v: OriginVerdict) => v !== 'foreign-origin' && v !== 'cross-site';

  return { verdict, isAllowed, allowed };
}

export type OriginPolicy = ReturnType<typeof originPolicy>;

/** An origin as ALLOWED_ORIGINS-style settings take it: scheme, host, optional port; nothing else. */
export function isOrigin(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  try {
    const u = new URL(value);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.origin === value;
  } catch {
    return false;
  }
}
