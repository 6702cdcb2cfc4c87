import { createRequire } from 'node:module';

/** The part of the `cookie-signature` module express-session calls (`signature.unsign(value, secret)`). */
export interface CookieSignature {
  unsign(input: string, secret: unknown): string | false;
}

/** How many verified cookies are remembered, per secret; the oldest is forgotten first. */
export const REMEMBERED_SIGNATURES = 10_000;

const REMEMBERING = Symbol.for('chat-server.remembered-cookie-signatures');
type Patched = CookieSignature & { [REMEMBERING]?: Map<unknown, Map<string, string>> };

/** The `cookie-signature` module express-session itself loads (its own copy, if it has one). */
function expressSessionCookieSignature(): CookieSignature {
  const fromHere = createRequire(import.meta.url);
  return createRequire(fromHere.resolve('express-session'))('cookie-signature') as CookieSignature;
}

/**
 * Makes express-session check each session cookie's signature once: a cookie whose HMAC
 * verified is remembered, by its exact signed value and the secret it verified with, and
 * the same cookie on the next request or socket handshake is answered without hashing it
 * again. A browser sends the same cookie on every request and every socket, and the HMAC
 * was the largest single cost of a handshake (OpenSSL 3 sets the algorithm up again on
 * every `createHmac`: about 25 µs of a handshake's server CPU on a 2-core machine).
 *
 * What is remembered is a verification's result, which never changes for the same value and
 * secret, so nothing is accepted that the HMAC would refuse: a cookie that does not verify is
 * never remembered (a forged or tampered one is hashed, and refused, every time), a remembered
 * one verified with that very secret, and a lookup needs the whole signed value, signature
 * included. The session the cookie names is still read (or taken from its live view) on every
 * request: a remembered signature never keeps an ended session alive. At most `max` cookies a
 * secret (about 200 bytes each), the oldest forgotten first; a secret that is not a string (a
 * Buffer or KeyObject) is checked every time.
 *
 * express-session reads `unsign` off the module at each call, so replacing it there is all it
 * takes; it is done once per module, however often this is called. Returns the remembered
 * cookies by secret (for tests).
 */
export function rememberVerifiedSignatures(signature: CookieSignature = expressSessionCookieSignature(), max = REMEMBERED_SIGNATURES) {
  const patched = signature as Patched;
  const existing = patched[REMEMBERING];
  if (existing) return existing;
  const unsign = signature.unsign.bind(signature);
  /** secret → signed value → its value, in the order they were first verified. */
  const verified = new Map<unknown, Map<string, string>>();
  patched.unsign = (input: string, secret: unknown) => {
    if (typeof secret !== 'string' || typeof input !== 'string') return unsign(input, secret);
    let bySecret = verified.get(secret);
    const known = bySecret?.get(input);
    if (known !== undefined) return known;
    const value = unsign(input, secret);
    if (value === false) return false;
    if (!bySecret) verified.set(secret, (bySecret = new Map()));
    if (bySecret.size >= max) bySecret.delete(bySecret.keys().next().value!);
    bySecret.set(input, value);
    return value;
  };
  patched[REMEMBERING] = verified;
  return verified;
}
