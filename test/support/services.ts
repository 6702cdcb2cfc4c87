/**
 * What the test run needs from the machine, settled once before any spec file
 * loads (.mocharc.json "require"; helpers import it too, so it always comes first):
 *
 * - Redis. With REDIS_URL set, that Redis (it must answer). Otherwise a throwaway
 *   redis-server of the run's own on a free port (no persistence), whose URL
 *   becomes process.env.REDIS_URL for every helper and every child process;
 *   stopped when the run ends (mochaGlobalTeardown, or its watchdog should the
 *   run die). Nothing here assumes a Redis on port 6379.
 * - redis-server and redis-cli on PATH, for suites that start servers and
 *   clusters of their own; Chromium (CHROMIUM_PATH, or `chromium` on PATH);
 *   valgrind, for the smoke test of `npm run bench:store`.
 *
 * A suite says what it needs with `needs(...)`, first thing in its describe. When
 * something is missing the suite is skipped and the reporter prints one line for
 * it ("skipped: <suite> needs ..."); with CI set, nothing skips: the suite fails.
 */
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createClient } from 'redis';
import { freePort, onPath, spawnRedisServer, stopRedisServer, untilAnswers, type RedisServerProcess } from './redis-server.js';

/** 'memory' needs nothing: suites run on either backend say `needs(backend)`. */
export type Need = 'memory' | 'redis' | 'redis-server' | 'redis-cli' | 'chromium' | 'docker-compose' | 'valgrind';

/** CI=true (any value but empty, "false" or "0"): missing tools fail the suites that need them. */
export const CI = !['', 'false', '0'].includes((process.env.CI ?? '').toLowerCase());

/** The Chromium the browser tests drive: CHROMIUM_PATH, or `chromium` (`chromium-browser`) on PATH. */
export const CHROMIUM: string | undefined = process.env.CHROMIUM_PATH
  ? existsSync(process.env.CHROMIUM_PATH)
    ? process.env.CHROMIUM_PATH
    : undefined
  : (onPath('chromium') ?? onPath('chromium-browser'));

const REDIS_SERVER = onPath('redis-server');
const REDIS_CLI = onPath('redis-cli');
/** Debian's docker-compose checks the compose file without a Docker engine. */
const DOCKER_COMPOSE = onPath('docker-compose');
/** valgrind (with its callgrind_control), which `npm run bench:store` counts instructions with. */
const VALGRIND = onPath('valgrind') && onPath('callgrind_control');

/** host:port of a Redis URL, without credentials, for log lines. */
const where = (url: string) => {
  try {
    return new URL(url).host;
  } catch {
    return 'an unparsable URL';
  }
};

async function assertAnswers(url: string): Promise<void> {
  const client = createClient({ url, socket: { reconnectStrategy: false, connectTimeout: 3000 } });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.ping();
  } catch (err) {
    throw new Error(`tests: REDIS_URL (${where(url)}) does not answer: ${err instanceof Error ? err.message : String(err)}. Unset it and the tests start a Redis of their own.`);
  } finally {
    if (client.isOpen) await client.close().catch(() => undefined);
  }
}

let own: RedisServerProcess | undefined;

if (process.env.REDIS_URL) {
  await assertAnswers(process.env.REDIS_URL);
  console.log(`tests: using the Redis at REDIS_URL (${where(process.env.REDIS_URL)})`);
} else if (REDIS_SERVER) {
  const port = await freePort();
  // Nothing persisted, so nothing is written (--dir only keeps a stray file out of the checkout).
  own = spawnRedisServer(['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tmpdir()]);
  await untilAnswers(own, port);
  process.env.REDIS_URL = `redis://127.0.0.1:${port}`;
  console.log(`tests: started redis-server on 127.0.0.1:${port}`);
} else {
  console.log(`tests: no Redis: redis-server is not installed and REDIS_URL is unset${CI ? '' : ' (the suites that need it are skipped)'}`);
}

/** The run's Redis (REDIS_URL, or the run's own); empty when there is none, and then every suite that needs it is skipped. */
export const REDIS_URL = process.env.REDIS_URL ?? '';

/** What of `what` this machine lacks, in words ("redis-server and redis-cli (not installed)"), or undefined. */
function lacking(what: Need[]): string | undefined {
  const tools = [
    ...(what.includes('redis-server') && !REDIS_SERVER ? ['redis-server'] : []),
    ...(what.includes('redis-cli') && !REDIS_CLI ? ['redis-cli'] : []),
    ...(what.includes('docker-compose') && !DOCKER_COMPOSE ? ['docker-compose'] : []),
    ...(what.includes('valgrind') && !VALGRIND ? ['valgrind'] : []),
  ];
  const reasons = [
    ...(what.includes('redis') && !REDIS_URL ? ['Redis (redis-server is not installed and REDIS_URL is unset)'] : []),
    ...(tools.length ? [`${tools.join(' and ')} (not installed)`] : []),
    ...(what.includes('chromium') && !CHROMIUM
      ? [process.env.CHROMIUM_PATH ? `Chromium (nothing at CHROMIUM_PATH=${process.env.CHROMIUM_PATH})` : 'Chromium (not installed; or set CHROMIUM_PATH)']
      : []),
  ];
  return reasons.length ? reasons.join(', ') : undefined;
}

/** The property of a skipped suite that holds why (test/support/reporter.cjs prints it). */
export const SKIP_REASON = 'needsMissing';

/**
 * Declares what the enclosing describe needs; call it first in the describe.
 * All there: nothing happens. Something missing: the suite is skipped (its hooks
 * never run, its tests count as skipped, the reporter prints one line), or with
 * CI set it fails with one error instead.
 */
export function needs(...what: Need[]): void {
  const lacks = lacking(what);
  if (!lacks) return;
  const why = `needs ${lacks}`;
  // before() answers with the hook it added (its parent is this describe), or with the
  // describe itself when an enclosing describe is already skipped.
  const added = before(() => {
    throw new Error(`${suite.fullTitle()} ${why}. CI is set, so nothing skips: install it (.ci/run does).`);
  }) as unknown as Mocha.Hook | Mocha.Suite;
  const suite = 'suites' in added ? added : added.parent!;
  if (suite.isPending()) return;
  if (CI) {
    // The first after() of the describe: its other after hooks would only trip over what never started.
    after(() => {
      suite.pending = true;
    });
    return;
  }
  suite.pending = true;
  (suite as unknown as Record<string, string>)[SKIP_REASON] = why;
}

/** Stops the run's own Redis once every test has run (mocha calls it for the "require" module). */
export async function mochaGlobalTeardown(): Promise<void> {
  if (!own) return;
  await stopRedisServer(own, 'SIGTERM');
  own = undefined;
}
