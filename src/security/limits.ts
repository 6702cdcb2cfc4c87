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

/** What a shared store answers to a request for points of a limit's current window. */
export interface Grant {
  /** Points reserved for the caller: half of what is left in the window (at least 1), or 0 when nothing is. */
  granted: number;
  /** Milliseconds left in the window as the store saw it (a window starts at the first request). */
  windowMs: number;
}

/**
 * Reserves points of a fixed-window limit in a shared store, each request one atomic
 * step, so that what every process holds together never exceeds the limit: the port
 * the stores implement for the limits counted per socket event (see LeasedLimit).
 */
export type QuotaFactory = (options: LimiterOptions) => { take(key: string): Promise<Grant> };

/** The limits counted on socket events: many a second per user, so each process leases their points. */
const LEASED: ReadonlySet<LimitName> = new Set<LimitName>(['send', 'typing', 'reaction']);

interface Lease {
  /** Points reserved and not yet spent. */
  left: number;
  /** When the window the points belong to ends, on this process's clock (never later than the store's). */
  until: number;
  /** The store had nothing left in that window. */
  exhausted: boolean;
}

/**
 * A limit counted per socket event without a store round trip per event. The
 * process reserves points from the shared store (half of what is left in the
 * window, at least one) and spends them locally until they run out or the window
 * ends, then asks again; the store answers each request in one atomic step, so all
 * processes together never admit more than the limit. Alone on a process, a user gets
 * exactly the limit (50 points: 25 + 13 + 6 + 3 + 2 + 1 reserved as they are spent),
 * in about log2(points) requests a window instead of one per event. With sockets on
 * several processes, points another process holds and does not spend are not
 * available here: such a user may be refused before the limit, never after it.
 * A lease ends when its window ends as measured from the moment the request was
 * sent, so it never outlives the store's window. Concurrent events of one key share
 * one request; once the store says nothing is left, refusals are answered here
 * until the window ends.
 */
class LeasedLimit {
  private readonly leases = new Map<string, Lease>();
  private readonly asking = new Map<string, Promise<unknown>>();
  private sweptAt = 0;

  constructor(
    private readonly quota: { take(key: string): Promise<Grant> },
    private readonly durationMs: number,
  ) {}

  /**
   * Spends one point of `key` from what this process holds: 0 when one was spent, the
   * milliseconds until the window ends when the store has none left, or -1 when the
   * store must be asked (`take`). Synchronous: the common case costs no promise.
   */
  spend(key: string): number {
    const lease = this.leases.get(key);
    if (!lease) return -1;
    const now = Date.now();
    if (now >= lease.until) return -1;
    if (lease.left > 0) {
      lease.left -= 1;
      return 0;
    }
    return lease.exhausted ? lease.until - now : -1;
  }

  /** Spends one point of `key`, asking the store when needed: resolves as `spend` answers, never -1. */
  async take(key: string): Promise<number> {
    for (;;) {
      const spent = this.spend(key);
      if (spent >= 0) return spent;
      await (this.asking.get(key) ?? this.ask(key));
    }
  }

  private ask(key: string): Promise<unknown> {
    const sentAt = Date.now();
    const asked = this.quota.take(key).then(({ granted, windowMs }) => {
      this.leases.set(key, { left: granted, until: sentAt + windowMs, exhausted: granted === 0 });
      this.sweep(sentAt);
    });
    const done = () => this.asking.delete(key);
    asked.then(done, done);
    this.asking.set(key, asked);
    return asked;
  }

  /** Drops ended leases, at most once a window (one entry per active user otherwise). */
  private sweep(now: number) {
    if (now - this.sweptAt < this.durationMs) return;
    this.sweptAt = now;
    for (const [key, lease] of this.leases) if (lease.until <= now) this.leases.delete(key);
  }
}

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
 * Every rate limit of the server, by name, held in the shared store (Redis: atomic
 * scripts, so a limit holds across every socket and process; memory: one process).
 * The limits of socket events (send, typing, reaction) are leased (LeasedLimit):
 * points reserved atomically, spent locally. The others (sign-ins, rooms created:
 * HTTP, rare, and given back when an attempt turns out not to count) are
 * rate-limiter-flexible limiters, one store call each. Either way a point is counted
 * before the action runs, so a burst of parallel calls never gets more than `points` through.
 */
export function createLimits(stores: { limiter: LimiterFactory; quota: QuotaFactory }, limits: Limits, onRefused: (limit: LimitName) => void = () => undefined) {
  const limiters = new Map<LimitName, RateLimiterAbstract>();
  const limiter = (name: LimitName) => {
    let l = limiters.get(name);
    if (!l) limiters.set(name, (l = stores.limiter({ name, ...limits[name] })));
    return l;
  };
  const leased = new Map<LimitName, LeasedLimit>();
  const leasedLimit = (name: LimitName) => {
    let l = leased.get(name);
    if (!l) leased.set(name, (l = new LeasedLimit(stores.quota({ name, ...limits[name] }), limits[name].durationSeconds * 1000)));
    return l;
  };

  const refuse = (name: LimitName, msBeforeNext: number) => {
    const { points, durationSeconds } = limits[name];
    onRefused(name);
    return new LimitExceeded(name, `too many ${COUNTS[name]}: at most ${points} per ${durationSeconds} s`, Math.max(1, Math.ceil(msBeforeNext / 1000)));
  };

  /**
   * Counts one against `key` without waiting, when this process's lease can decide (the
   * limits of socket events): true when a point was spent, false when `consume` must ask
   * the store. Throws LimitExceeded when the store said the window has nothing left.
   * `consume`'s common case without a promise, for a handler that has nothing else to wait for.
   */
  const spendNow = (name: LimitName, key: string): boolean => {
    if (!LEASED.has(name)) return false;
    const spent = leasedLimit(name).spend(key);
    if (spent > 0) throw refuse(name, spent);
    return spent === 0;
  };

  return {
    /** Counts one against `key`; throws LimitExceeded (`rate_limited`, with Retry-After) when that goes over the limit. */
    async consume(name: LimitName, key: string): Promise<void> {
      if (LEASED.has(name)) {
        if (spendNow(name, key)) return;
        const wait = await leasedLimit(name).take(key);
        if (wait > 0) throw refuse(name, wait);
        return;
      }
      try {
        await limiter(name).consume(key);
      } catch (err) {
        if (!(err instanceof RateLimiterRes)) throw err; // the store failed: not a verdict
        throw refuse(name, err.msBeforeNext);
      }
    },
    spendNow,
    /** Gives one back (an attempt that turned out not to count; not for the leased limits of socket events). */
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
