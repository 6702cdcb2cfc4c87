/**
 * What the test run needs from the machine, settled once before any spec file
 * loads (.mocharc.json "require"; helpers import it too, so it always comes first):
 *
 * - Redis. With REDIS_URL set, that Redis (it must answer). Otherwise a throwaway
 *   redis-server of the run's own on a free port (no persistence), whose URL
 *   becomes process.env.REDIS_URL for every helper and every child process;
 *   stopped when the run ends (mochaGlobalTeardown, or its watchdog should the
 *   run die). Nothing here assumes a Redis on port 6379.
 */
import { tmpdir } from 'node:os';
import { createClient } from 'redis';
import { freePort, onPath, spawnRedisServer, stopRedisServer, untilAnswers, type RedisServerProcess } from './redis-server.js';

const REDIS_SERVER = onPath('redis-server');

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
  console.log('tests: no Redis: redis-server is not installed and REDIS_URL is unset');
}

/** The run's Redis (REDIS_URL, or the run's own); empty when there is none. */
export const REDIS_URL = process.env.REDIS_URL ?? '';

/** Stops the run's own Redis once every test has run (mocha calls it for the "require" module). */
export async function mochaGlobalTeardown(): Promise<void> {
  if (!own) return;
  await stopRedisServer(own, 'SIGTERM');
  own = undefined;
}
