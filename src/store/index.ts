import { randomUUID } from 'node:crypto';
import { RedisStore } from 'connect-redis';
import { RateLimiterMemory, RateLimiterRedis } from 'rate-limiter-flexible';
import type { Config, RedisTarget } from '../config.js';
import type { Logger } from '../logger.js';
import { redisKeys } from './keys.js';
import { createMemoryChatStore } from './memory/chat.js';
import { memoryBus, redisBus, storeTtlSeconds } from 'socket.io-live-session';
import { memoryQuota } from './memory/quota.js';
import { createMemoryRoomChannels } from './memory/room-channels.js';
import { createMemoryPresenceStore } from './memory/presence.js';
import { MemorySessionStore } from './memory/sessions.js';
import { createMemoryUserStore } from './memory/users.js';
import { createRedisChatStore } from './redis/chat.js';
import { createRedisClient, healthOf, isRedisUnavailable, pingAll, type RedisClient } from './redis/client.js';
import { createRedisQuota } from './redis/quota.js';
import { createRedisRoomChannels } from './redis/room-channels.js';
import { createRoomServers } from './redis/room-servers.js';
import { socketRooms } from '../realtime/rooms.js';
import { createRoomAdapter } from './redis/room-adapter.js';
import { migrateKeyLayout } from './redis/layout.js';
import { ROOM_SERVER_LEASE_MS, SESSION_LOCK_WAIT_MS } from '../timings.js';
import { createRedisPresenceStore } from './redis/presence.js';
import { createRedisUserStore } from './redis/users.js';
import type { Stores } from './types.js';

export type { Stores } from './types.js';

/** The idle deadline the live session writes into each record (`_live.exp`), so the store keeps it as long. */
const deadlineOf = (sess: unknown) => Date.now() + storeTtlSeconds(sess) * 1000;

export function createMemoryStores(config: Config): Stores {
  const sessionBase = new MemorySessionStore(deadlineOf);
  return {
    kind: 'memory',
    users: createMemoryUserStore(),
    sessionBase,
    bus: memoryBus(),
    chat: createMemoryChatStore({ historyLimit: config.messageHistoryLimit }),
    presence: createMemoryPresenceStore(),
    roomChannels: createMemoryRoomChannels(),
    limiter: ({ name, points, durationSeconds }) => new RateLimiterMemory({ keyPrefix: name, points, duration: durationSeconds }),
    quota: memoryQuota,
    isUnavailable: () => false,
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

/**
 * Every store on one Redis or a Redis Cluster. Resolves once connected (and subscribed).
 * Two connections (per node, on a cluster): commands, which fail fast while Redis is
 * away; and the subscriber of the bus and the Socket.IO adapter's room channels.
 */
async function createRedisStores(config: Config & { redis: RedisTarget }, log: Logger): Promise<RedisStores> {
  const keys = redisKeys(config.redisPrefix);
  const client = createRedisClient(config.redis, log, 'commands');
  const subscriber = createRedisClient(config.redis, log, 'subscriber', true);
  await Promise.all([client.connect(), subscriber.connect()]);
  await migrateKeyLayout(client, keys, log);

  const processId = randomUUID();
  // The live session's bus, write lock and session index: its keys live under the same prefix.
  const bus = redisBus({ client, subscriber, prefix: keys.prefix, log, lockWaitMs: SESSION_LOCK_WAIT_MS });
  await bus.ready;
  /** Whether every live process registers the rooms it serves (room-servers.ts): told by each heartbeat. */
  let everyoneRegisters = false;
  const presence = createRedisPresenceStore(client, keys, { processId, onHeartbeat: (everyone) => (everyoneRegisters = everyone) });
  const subscriptions = healthOf(subscriber);
  // A user's own room lingers as long as their presence does (PRESENCE_GRACE_MS): a reconnect or a page load reuses it.
  const rooms = createRoomAdapter({
    client,
    subscriber,
    health: subscriptions,
    channelPrefix: keys.adapterChannel,
    log,
    tracked: socketRooms.isRoom,
    linger: (room) => (socketRooms.isUser(room) ? config.presenceGraceMs : 0),
    processId,
  });
  // The other processes answer this one's first HELLO on its own channel: subscribed before any socket joins a room.
  await rooms.ready;
  const roomServers = createRoomServers({
    client,
    keys,
    processId,
    health: subscriptions,
    log,
    leaseMs: ROOM_SERVER_LEASE_MS,
    serving: (room) => rooms.hasSockets(room) || roomChannels.holding(room),
  });
  const roomChannels = createRedisRoomChannels(subscriber, keys, { registers: socketRooms.isRoom, enter: roomServers.enter });

  return {
    kind: 'redis',
    client,
    subscriber,
    processId,
    users: createRedisUserStore(client, keys),
    sessionBase: new RedisStore({
      client,
      prefix: keys.sessionPrefix,
      ttl: storeTtlSeconds,
    }),
    bus,
    subscriptions,
    chat: createRedisChatStore(client, keys, { historyLimit: config.messageHistoryLimit, processId, everyoneRegisters: () => everyoneRegisters }),
    presence,
    presenceUpkeep: presence,
    roomChannels,
    roomLapses: roomServers,
    limiter: ({ name, points, durationSeconds }) =>
      new RateLimiterRedis({
        storeClient: client,
        // node-redis, whether a single client or a cluster: said, not detected through the client's class name.
        useRedisPackage: true,
        keyPrefix: keys.rateLimit(name),
        points,
        duration: durationSeconds,
      }),
    quota: createRedisQuota(client, keys),
    // Socket.IO's sharded adapter: one channel per room (SPUBLISH/SSUBSCRIBE), subscribed
    // only by the processes with sockets in it, so a process pays for the rooms it serves.
    socketAdapter: rooms.adapter,
    roomPeers: rooms.peers,
    isUnavailable: isRedisUnavailable,
    ping: () => pingAll(client),
    close: async () => {
      roomServers.close();
      await Promise.allSettled([subscriber.close(), client.close()]);
    },
  };
}

export async function createStores(config: Config, log: Logger): Promise<Stores> {
  if (config.redis) return createRedisStores({ ...config, redis: config.redis }, log);
  return createMemoryStores(config);
}
