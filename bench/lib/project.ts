/** Starting the project and making its users, shared by the benchmarks. */
import { spawnServer, type ServerChild } from './children.js';
import { benchUsername, HttpUser } from './http.js';
import { REDIS_URL } from './redis.js';
import { pool, progress } from './util.js';

export const SESSION_SECRET = 'bench-secret-0123456789abcdef0123';

/**
 * The benchmarks drive far more load per user than a person can: 100 sockets
 * send `typing` in a closed loop, and thousands of idle sockets share 10 users.
 * So they raise two ceilings with the documented settings (README, "Settings"):
 * the typing limit and the sockets per user. Both are still counted on every
 * event and connect (the same Redis work as in production), only never reached.
 */
export const BENCH_LIMITS = { RATE_LIMITS: 'typing=100000000/10', MAX_SOCKETS_PER_USER: '1000000' };

/**
 * BENCH_LIMITS with the send limit raised too, for phases whose members send more
 * than 30 messages per 10 s (scale, small-rooms): a round must be long enough for a
 * process's fixed cost per measured window not to weigh in. Sends are still counted.
 */
export const RAISED_SEND_LIMITS = `${BENCH_LIMITS.RATE_LIMITS},send=100000000/10`;

/** The project's environment for the run's --memory (in-memory stores: no REDIS_URL) and --metrics (METRICS_PORT on a free port). */
export function modeEnv(o: { memory: boolean; metrics: boolean }): Record<string, string> {
  return { ...(o.memory && { REDIS_URL: '' }), ...(o.metrics && { METRICS_PORT: '0' }) };
}

/** The project's per-user send limit (PROTOCOL.md): 30 `message:send` + `dm:send` per 10 s; the benchmarks stay within it. */
export const SEND_LIMIT = 30;
/** The limit's window, with a margin. */
export const SEND_WINDOW_MS = 11_000;

/**
 * The project in Redis mode, under the probe. `entry` is src/server.ts (the real
 * entry, as `npm start` runs it) or bench/app-server.ts (same wiring, App in reach).
 */
export function startProject(o: { name?: string; entry?: string; prefix: string; env?: Record<string, string>; nodeFlags?: string[]; holdListen?: boolean }): Promise<ServerChild> {
  return spawnServer({
    ...(o.nodeFlags && { nodeFlags: o.nodeFlags }),
    ...(o.holdListen && { holdListen: true }),
    name: o.name ?? 'project',
    entry: o.entry ?? 'src/server.ts',
    env: {
      REDIS_URL,
      REDIS_PREFIX: o.prefix,
      LOG_LEVEL: 'warn',
      SESSION_SECRET,
      NODE_ENV: 'development',
      ...BENCH_LIMITS,
      ...o.env,
    },
  });
}

export function startBare(o: { name?: string; env?: Record<string, string>; holdListen?: boolean } = {}): Promise<ServerChild> {
  return spawnServer({ name: o.name ?? 'bare', entry: 'bench/bare-server.ts', env: o.env ?? {}, ...(o.holdListen && { holdListen: true }) });
}

/** Registers `count` users (argon2 on the server: a few at a time) and returns them logged in. */
export async function registerUsers(url: string, run: string, tag: string, count: number, concurrency = 4): Promise<HttpUser[]> {
  let done = 0;
  return pool(count, concurrency, async (i) => {
    const u = new HttpUser(url);
    await u.register(benchUsername(run, tag, i));
    if (++done % 10 === 0 || done === count) progress(`registered ${done}/${count} ${tag} users`);
    return u;
  });
}
