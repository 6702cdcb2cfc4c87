/** Starting the project and making its users, shared by the benchmarks. */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, spawnServer, UsageError, type ServerChild, type SpawnOptions } from './children.js';
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
 * What `npm start` runs: the build of src/server.ts (tsc's output, node without a loader).
 * Measured rather than src/server.ts under tsx, whose esbuild output differs (a `__name`
 * call per closure made, for one); `npm run bench` builds it first.
 */
export const PROJECT_ENTRY = 'dist/src/server.js';

/** The newest modification time of the .ts files under a folder, in ms. */
function newestTs(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestTs(path));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/**
 * Refuses to measure a build older than the source (a change not built yet would be
 * measured as the code before it): throws, saying how to build. `script` is the command
 * that builds it first, `alternative` anything else the user may do instead.
 */
export function checkBuilt(entry: string, script = 'npm run bench', alternative = ''): void {
  if (entry !== PROJECT_ENTRY) return;
  const built = join(repoRoot, PROJECT_ENTRY);
  const source = Math.max(newestTs(join(repoRoot, 'src')), newestTs(join(repoRoot, 'packages', 'socket.io-live-session', 'src')));
  const lib = join(repoRoot, 'packages', 'socket.io-live-session', 'dist', 'index.js');
  if (!existsSync(built) || !existsSync(lib) || Math.min(statSync(built).mtimeMs, statSync(lib).mtimeMs) < source) {
    throw new UsageError(`${PROJECT_ENTRY} is missing or older than src/: run \`npm run build\` first (\`${script}\` does)${alternative}`);
  }
}

/** How a server is started beyond its name and settings: see SpawnOptions. */
type StartOptions = Pick<SpawnOptions, 'holdListen' | 'wrap' | 'startTimeoutMs'>;

/**
 * The project in Redis mode, under the probe. `entry` is PROJECT_ENTRY (what `npm start`
 * runs), src/server.ts (the source, under tsx) or bench/app-server.ts (same wiring, App in reach).
 */
export function startProject(o: { name?: string; entry?: string; prefix: string; env?: Record<string, string>; nodeFlags?: string[] } & StartOptions): Promise<ServerChild> {
  return spawnServer({
    ...(o.nodeFlags && { nodeFlags: o.nodeFlags }),
    ...(o.holdListen && { holdListen: true }),
    ...(o.wrap && { wrap: o.wrap }),
    ...(o.startTimeoutMs && { startTimeoutMs: o.startTimeoutMs }),
    name: o.name ?? 'project',
    entry: o.entry ?? PROJECT_ENTRY,
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

export function startBare(o: { name?: string; env?: Record<string, string> } & StartOptions = {}): Promise<ServerChild> {
  return spawnServer({
    name: o.name ?? 'bare',
    entry: 'bench/bare-server.ts',
    env: o.env ?? {},
    ...(o.holdListen && { holdListen: true }),
    ...(o.wrap && { wrap: o.wrap }),
    ...(o.startTimeoutMs && { startTimeoutMs: o.startTimeoutMs }),
  });
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
