import { randomUUID } from 'node:crypto';
import { createClient } from 'redis';
import { REDIS_URL } from '../../support/services.js';

export { REDIS_URL };

/** A plain single-Redis client (assignable to the stores' RedisClient). */
export type TestRedisClient = ReturnType<typeof createClient>;

/**
 * A connected client for tests. No reconnect strategy: if Redis is not there the
 * connect rejects and the suite's before() hook fails. A suite skips only through
 * needs('redis') (test/support/services.ts), which says so, and never in CI.
 */
export async function connectTestClient(): Promise<TestRedisClient> {
  const client = createClient({ url: REDIS_URL, socket: { reconnectStrategy: false, connectTimeout: 2000 } });
  client.on('error', () => undefined); // surfaced by the failing command instead
  await client.connect();
  return client;
}

/** A key prefix no other run (or developer's data) shares. */
export function uniquePrefix(): string {
  return `test:${randomUUID()}:`;
}

/** Deletes every key under the prefix (SCAN, never KEYS, so a shared Redis is not blocked). */
export async function deleteKeys(client: TestRedisClient, prefix: string): Promise<number> {
  let deleted = 0;
  for await (const batch of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 })) {
    if (batch.length > 0) deleted += await client.del(batch);
  }
  return deleted;
}

/** Deletes every key under the prefix on the shared Redis (REDIS_URL), with a client of its own. */
export async function deleteRedisPrefix(prefix: string): Promise<void> {
  const client = createClient({ url: REDIS_URL });
  await client.connect();
  try {
    await deleteKeys(client, prefix);
  } finally {
    await client.close();
  }
}
