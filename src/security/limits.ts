import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { LimitName, Limits } from '../config.js';
import { AppError } from '../errors.js';

/** One limiter's settings; the stores make the limiter (in Redis or in memory). */
export interface LimiterOptions {
  name: string;
  points: number;
  durationSeconds: number;
}

/** Makes a limiter in a shared store: the port the stores implement. */
export type LimiterFactory = (options: LimiterOptions) => RateLimiterAbstract;

/** What each limit counts, for the `rate_limited` message. */
const COUNTS: Record<LimitName, string> = {
  send: 'messages',
  typing: 'typing events',
  reaction: 'reactions',
  room_create: 'rooms created',
  login: 'failed sign-ins for this username',
  login_ip: 'failed sign-ins from this address',
};

/** A limit refused: `rate_limited`, naming the limit (for the audit line). */
export class LimitExceeded extends AppError {
  constructor(
    readonly limit: LimitName,
    message: string,
    retryAfterSeconds: number,
  ) {
    super('rate_limited', message, retryAfterSeconds);
  }
}

/**
 * Every rate limit of the server, by name. Each is one rate-limiter-flexible
 * limiter in the shared store (Redis: an atomic INCR script per call, so the
 * limit holds across every socket and process; memory: one process).
 * `consume` counts first and refuses beyond the limit, so a burst of parallel
 * calls can never get more than `points` through.
 */
export function createLimits(stores: { limiter: LimiterFactory }, limits: Limits, onRefused: (limit: LimitName) => void = () => undefined) {
  const limiters = new Map<LimitName, RateLimiterAbstract>();
  const limiter = (name: LimitName) => {
    let l = limiters.get(name);
    if (!l) limiters.set(name, (l = stores.limiter({ name, ...limits[name] })));
    return l;
  };

  return {
    /** Counts one against `key`; throws LimitExceeded (`rate_limited`, with Retry-After) when that goes over the limit. */
    async consume(name: LimitName, key: string): Promise<void> {
      try {
        await limiter(name).consume(key);
      } catch (err) {
        if (!(err instanceof RateLimiterRes)) throw err; // the store failed: not a verdict
        const { points, durationSeconds } = limits[name];
        onRefused(name);
        throw new LimitExceeded(name, `too many ${COUNTS[name]}: at most ${points} per ${durationSeconds} s`, Math.max(1, Math.ceil(err.msBeforeNext / 1000)));
      }
    },
    /** Gives one back (an attempt that turned out not to count). */
    async reward(name: LimitName, key: string): Promise<void> {
      await limiter(name).reward(key);
    },
    /** Forgets everything counted against `key`. */
    async reset(name: LimitName, key: string): Promise<void> {
      await limiter(name).delete(key);
    },
  };
}
export type RateLimits = ReturnType<typeof createLimits>;

/**
 * A password check guarded by the failed-login limits: the attempt is counted
 * against the username and the client address *before* the (slow) check runs,
 * so parallel guesses cannot exceed either limit; a correct password takes the
 * count back (the username's is reset: only failures in a row count).
 */
export async function guardedPasswordCheck<T>(
  limits: RateLimits,
  who: { username: string; address: string },
  check: () => Promise<T | null | false>,
): Promise<T | null> {
  await limits.consume('login', who.username);
  try {
    await limits.consume('login_ip', who.address);
  } catch (err) {
    await limits.reward('login', who.username).catch(() => undefined);
    throw err;
  }
  let result: T | null | false;
  try {
    result = await check();
  } catch (err) {
    // The check could not run (a backend failed): it was not a guess.
    await Promise.allSettled([limits.reward('login', who.username), limits.reward('login_ip', who.address)]);
    throw err;
  }
  if (!result) return null;
  await Promise.all([limits.reset('login', who.username), limits.reward('login_ip', who.address)]);
  return result;
}

/**
 * The key a client address is limited by: an IPv4 address as is (an IPv4-mapped
 * IPv6 address as its IPv4 form), an IPv6 address by its /64 prefix, since one
 * client usually holds a whole /64 and could otherwise step through it.
 */
export function addressKey(ip: string | undefined): string {
  if (!ip) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (!ip.includes(':')) return ip;
  const [head = '', tail = ''] = ip.toLowerCase().split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}
