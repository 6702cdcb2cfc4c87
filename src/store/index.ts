import { randomUUID } from 'node:crypto';
import { createAdapter } from '@socket.io/redis-streams-adapter';
import { RedisStore } from 'connect-redis';
import { RateLimiterMemory, RateLimiterRedis } from 'rate-limiter-flexible';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { StoredRecord } from '../session/types.js';
import { redisKeys } from './keys.js';
import { createMemoryChatStore } from './memory/chat.js';
import { createMemoryBus, createMemoryLock, createMemoryRoomInterest, createMemorySessionIndex } from './memory/infra.js';
import { createMemoryPresenceStore } from './memory/presence.js';
import { MemorySessionStore } from './memory/sessions.js';
import { createMemoryUserStore } from './memory/users.js';
import { createRedisChatStore } from './redis/chat.js';
import { createRedisClient, type RedisClient } from './redis/client.js';
import { createRedisBus, createRedisLock, createRedisSessionIndex } from './redis/infra.js';
import { createRedisRoomInterest } from './redis/interest.js';
import { createRedisPresenceStore } from './redis/presence.js';
import { createRedisUserStore } from './redis/users.js';
import type { Stores } from './types.js';

export type { Stores } from './types.js';

/** The idle deadline the live-session store writes into each record. */
const deadlineOf = (sess: unknown) => (sess as StoredRecord)._live?.exp ?? Date.now();

export function createMemoryStores(config: Config): Stores {
  const sessionBase = new MemorySessionStore(deadlineOf);
  return {
    kind: 'memory',
    users: createMemoryUserStore(),
    sessionBase,
    lock: createMemoryLock(),
    bus: createMemoryBus(),
    sessionIndex: createMemorySessionIndex(),
    chat: createMemoryChatStore({ historyLimit: config.messageHistoryLimit }),
    presence: createMemoryPresenceStore(),
    interest: createMemoryRoomInterest(),
    limiter: ({ name, points, durationSeconds }) => new RateLimiterMemory({ keyPrefix: name, points, duration: durationSeconds }),
    ping: async () => undefined,
    close: async () => sessionBase.close(),
  };
}

export interface RedisStores extends Stores {
  kind: 'redis';
  client: RedisClient;
  subscriber: RedisClient;
  processId: string;
}

/** Every store on one Redis. Resolves once connected (and subscribed). */
export async function createRedisStores(config: Config & { redisUrl: string }, log: Logger): Promise<RedisStores> {
  const keys = redisKeys(config.redisPrefix);
  const client = createRedisClient(config.redisUrl, log, 'commands');
  const subscriber = createRedisClient(config.redisUrl, log, 'subscriber');
  const adapterClient = createRedisClient(config.redisUrl, log, 'socket.io adapter', true);
  await Promise.all([client.connect(), subscriber.connect(), adapterClient.connect()]);

  const processId = randomUUID();
  const bus = createRedisBus(client, subscriber, keys, log);
  await bus.start();
  const interest = createRedisRoomInterest(client, subscriber, bus, keys, log, { processId });
  await interest.start();

  return {
    kind: 'redis',
    client,
    subscriber,
    processId,
    users: createRedisUserStore(client, keys),
    sessionBase: new RedisStore({
      client,
      prefix: keys.sessionPrefix,
      ttl: (sess: unknown) => Math.max(1, Math.ceil((deadlineOf(sess) - Date.now()) / 1000)),
    }),
    lock: createRedisLock(client, keys.sessionLock),
    bus,
    sessionIndex: createRedisSessionIndex(client, keys),
    chat: createRedisChatStore(client, keys, { historyLimit: config.messageHistoryLimit }),
    presence: createRedisPresenceStore(client, keys, { processId }),
    interest,
    limiter: ({ name, points, durationSeconds }) =>
      new RateLimiterRedis({
        storeClient: client,
        useRedisPackage: true,
        keyPrefix: keys.rateLimit(name),
        points,
        duration: durationSeconds,
      }),
    // Redis Streams adapter: a Redis blip does not lose broadcasts (the stream is
    // resumed from the last offset read), unlike plain pub/sub.
    socketAdapter: createAdapter(adapterClient, {
      streamName: keys.adapterStream,
      channelPrefix: keys.adapterStream,
      sessionKeyPrefix: `${keys.adapterStream}:session:`,
      blockTimeInMs: 1000,
      maxLen: 10_000,
    }),
    ping: async () => {
      await client.ping();
    },
    close: async () => {
      await interest.close();
      await Promise.allSettled([subscriber.close(), client.close(), adapterClient.close()]);
    },
  };
}

export async function createStores(config: Config, log: Logger): Promise<Stores> {
  if (config.redisUrl) return createRedisStores({ ...config, redisUrl: config.redisUrl }, log);
  return createMemoryStores(config);
}
