import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { RedisKeys } from '../keys.js';
import type { Bus, BusMessage, KeyedLock, RoomChannels, SessionIndex } from '../types.js';
import { healthOf, type RedisClient } from './client.js';

const LOCK_TTL_MS = 5_000;
const LOCK_WAIT_MS = 3_000;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

/**
 * A lease per key (SET NX PX) so that writers on different processes take
 * turns. The lease expires on its own if its holder dies mid-write.
 */
export function createRedisLock(client: RedisClient, keyOf: (key: string) => string): KeyedLock {
  return {
    async withLock(key, fn) {
      const lockKey = keyOf(key);
      const token = randomUUID();
      const deadline = Date.now() + LOCK_WAIT_MS;
      while ((await client.set(lockKey, token, { NX: true, PX: LOCK_TTL_MS })) === null) {
        if (Date.now() > deadline) throw new AppError('unavailable', 'session is busy, try again');
        await sleep(2 + Math.random() * 8);
      }
      try {
        return await fn();
      } finally {
        await client.eval(RELEASE, { keys: [lockKey], arguments: [token] }).catch(() => undefined);
      }
    },
  };
}

/** A pub/sub listener that parses each JSON message and hands it to every listener; a malformed one is logged and dropped. */
export function jsonListener<T>(listeners: ReadonlyArray<(message: T) => void>, log: Logger, what: string) {
  return (raw: string) => {
    let message: T;
    try {
      message = JSON.parse(raw) as T;
    } catch {
      log.warn(`ignoring a malformed ${what}`);
      return;
    }
    for (const l of listeners) l(message);
  };
}

/**
 * Redis sharded pub/sub on one channel (SPUBLISH/SSUBSCRIBE: Redis 7, and a
 * Redis Cluster, where the channel lives on one shard). node-redis resubscribes
 * by itself after a reconnect (and the cluster supervisor after a failover);
 * what was published while the subscriber was cut off is lost, so the
 * listeners re-read what they cache when it is restored.
 */
export function createRedisBus(client: RedisClient, subscriber: RedisClient, keys: RedisKeys, log: Logger): Bus & { start(): Promise<void> } {
  const listeners: Array<(m: BusMessage) => void> = [];
  const resyncListeners: Array<() => void> = [];
  const cutOffListeners: Array<() => void> = [];
  healthOf(subscriber)
    .on('cut-off', () => {
      for (const l of cutOffListeners) l();
    })
    .on('restored', () => {
      log.info('bus subscription restored; resyncing');
      for (const l of resyncListeners) l();
    });
  return {
    async start() {
      await subscriber.sSubscribe(keys.busChannel, jsonListener(listeners, log, 'bus message'));
    },
    async publish(message) {
      await client.sPublish(keys.busChannel, JSON.stringify(message));
    },
    subscribe(listener) {
      listeners.push(listener);
    },
    onResync(listener) {
      resyncListeners.push(listener);
    },
    onCutOff(listener) {
      cutOffListeners.push(listener);
    },
  };
}

/**
 * Holds a room's sharded channel with a listener of its own: once its
 * SSUBSCRIBE is confirmed (or at once, when the channel is subscribed
 * already), the adapter's own subscription on the join just adds a listener,
 * and the release drops only this one. The channel name is the adapter's
 * (`<prefix>#<namespace>#<room>#`, see @socket.io/redis-adapter's sharded adapter).
 */
export function createRedisRoomChannels(subscriber: RedisClient, keys: RedisKeys): RoomChannels {
  return {
    async hold(room) {
      const channel = `${keys.adapterChannel}#/#${room}#`;
      const holder = () => undefined;
      await subscriber.sSubscribe(channel, holder);
      return () => void subscriber.sUnsubscribe(channel, holder).catch(() => undefined);
    },
  };
}

export function createRedisSessionIndex(client: RedisClient, keys: RedisKeys): SessionIndex {
  return {
    async add(userId, sid) {
      await client.sAdd(keys.userSessions(userId), sid);
    },
    async remove(userId, sid) {
      await client.sRem(keys.userSessions(userId), sid);
    },
    async list(userId) {
      return client.sMembers(keys.userSessions(userId));
    },
  };
}
