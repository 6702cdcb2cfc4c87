import { createClient } from 'redis';
import type { Logger } from '../../logger.js';

export type RedisClient = ReturnType<typeof createClient>;

/**
 * A node-redis client that reconnects forever with capped backoff. By default it
 * fails commands fast while disconnected (instead of queueing them until Redis
 * returns), so that callers can answer `unavailable` promptly. The Socket.IO
 * adapter's client queues instead (`queueWhileOffline`): its blocking stream
 * reads would otherwise spin while Redis is away, and a broadcast held for a
 * moment is better than one dropped.
 */
export function createRedisClient(url: string, log: Logger, role: string, queueWhileOffline = false): RedisClient {
  const client = createClient({
    url,
    disableOfflineQueue: !queueWhileOffline,
    socket: {
      connectTimeout: 2000,
      reconnectStrategy: (retries) => Math.min(50 * 2 ** retries, 2000),
    },
  });
  let down = false;
  client.on('error', (err: Error) => {
    if (!down) log.error({ err: err.message, role }, 'redis connection error');
    down = true;
  });
  client.on('ready', () => {
    if (down) log.info({ role }, 'redis connection restored');
    down = false;
  });
  return client;
}
