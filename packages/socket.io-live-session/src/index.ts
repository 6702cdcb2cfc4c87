/**
 * socket.io-live-session: express-session for Socket.IO, live.
 * See README.md for the guarantees, the API and its extensions.
 */
export { liveSession, sessionHandle, SessionEndedError, type Hooks, type LiveSession, type LiveSessionOptions, type RefuseReason, type SessionInfo } from './live.js';
export { memoryBus } from './bus.js';
export { redisBus, type RedisBusOptions, type RedisLike, type RedisSubscriberLike } from './redis.js';
export { originPolicy, isOrigin, type OriginPolicy, type OriginVerdict } from './origin.js';
export { mergeChanges } from './store.js';
export type { BusMessage, EndReason, KeyedLock, LiveBus, LiveMeta, Log, SessionFields, SessionIndex, SessionSnapshot } from './types.js';
import type { StoredRecord } from './types.js';

/**
 * For a store whose records expire by a TTL (connect-redis's `ttl` option): the
 * seconds left to a record's idle deadline, so the store keeps it exactly as long
 * as the live session does: `new RedisStore({ client, ttl: storeTtlSeconds })`.
 */
export function storeTtlSeconds(sess: unknown): number {
  const exp = (sess as StoredRecord | undefined)?._live?.exp;
  return exp === undefined ? 86_400 : Math.max(1, Math.ceil((exp - Date.now()) / 1000));
}
