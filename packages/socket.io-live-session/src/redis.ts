import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BusMessage, KeyedLock, LiveBus, Log, SessionIndex } from './types.js';

/**
 * The node-redis v5 commands the bus uses. A client made by `createClient` or by
 * `createCluster` fits (both route each command by its key); so does anything
 * else with these methods.
 */
export interface RedisLike {
  set(key: string, value: string, options: { NX: true; PX: number }): Promise<unknown>;
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  sAdd(key: string, member: string): Promise<unknown>;
  pExpire(key: string, ms: number): Promise<unknown>;
  sRem(key: string, member: string): Promise<unknown>;
  sMembers(key: string): Promise<string[]>;
  sPublish(channel: string, message: string): Promise<unknown>;
  /** False once the app closed the client (node-redis has it): a cut-off bus then stops probing. */
  readonly isOpen?: boolean;
}

/** The subscriber: a duplicate() of the client, used for nothing else by the bus but its channel. */
export interface RedisSubscriberLike {
  sSubscribe(channel: string, listener: (message: string) => void): Promise<unknown>;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  readonly isOpen?: boolean;
}

export interface RedisBusOptions {
  /** A connected node-redis v5 client (or cluster). */
  client: RedisLike;
  /** A connected duplicate() of it, for the subscription. */
  subscriber: RedisSubscriberLike;
  /** Prefix of every key and of the channel. Default `live:`. */
  prefix?: string;
  /** Where to log (pino and console fit). */
  log?: Log;
  /**
   * How long a session write waits for the session's write lock (held by a write
   * of the same session on another process) before it fails as busy. Default 3000.
   * Keep it below any timeout your handlers answer by.
   */
  lockWaitMs?: number;
}

const LOCK_TTL_MS = 5_000;
const DEFAULT_LOCK_WAIT_MS = 3_000;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;
/** While cut off, how often to check that the subscription works again. */
const PROBE_EVERY_MS = 250;
const PROBE = 'live:probe';

/** An option error that names the option. */
const optionError = (message: string) => new TypeError(`socket.io-live-session: ${message}`);

/**
 * A lease per key (SET NX PX) so that writers on different processes take
 * turns; released with a compare-and-delete, so a holder whose lease expired
 * never frees another's. The lease expires on its own if its holder dies.
 */
function redisLock(client: RedisLike, keyOf: (key: string) => string, waitMs: number): KeyedLock {
  return {
    async withLock(key, fn) {
      const lockKey = keyOf(key);
      const token = randomUUID();
      const deadline = Date.now() + waitMs;
      while ((await client.set(lockKey, token, { NX: true, PX: LOCK_TTL_MS })) === null) {
        if (Date.now() > deadline) throw new Error(`the session is busy (its write lock was not free for ${waitMs} ms); try again`);
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

function redisIndex(client: RedisLike, keyOf: (userKey: string) => string): SessionIndex {
  return {
    async add(userKey, sid, ttlMs) {
      // The set lives as long as the user's latest session may (each write pushes it out).
      await client.sAdd(keyOf(userKey), sid);
      await client.pExpire(keyOf(userKey), ttlMs);
    },
    async remove(userKey, sid) {
      await client.sRem(keyOf(userKey), sid);
    },
    async list(userKey) {
      return client.sMembers(keyOf(userKey));
    },
  };
}

/**
 * The bus of processes that share a Redis (7 or later) or a Redis Cluster:
 * changes go on one sharded pub/sub channel (SPUBLISH/SSUBSCRIBE), the write
 * lock and each user's session index are keys. Each key and the channel stand
 * alone, so nothing crosses a cluster's slots.
 *
 * Pub/sub keeps nothing for a subscriber that is cut off: when the subscriber
 * reports an error, the bus tells its listeners (`onCutOff`), then publishes a
 * probe on its own channel until one comes back, which proves the subscription
 * works again (node-redis resubscribes after a reconnect), and tells them to
 * re-read what they cache (`onResync`). `ready` resolves once it is subscribed.
 */
export function redisBus(options: RedisBusOptions): LiveBus & { ready: Promise<void> } {
  const { client, subscriber, log } = options ?? ({} as RedisBusOptions);
  if (!client || typeof client.sPublish !== 'function' || typeof client.set !== 'function') {
    throw optionError('redisBus: client option must be a connected node-redis v5 client (createClient() or createCluster())');
  }
  if (!subscriber || typeof subscriber.sSubscribe !== 'function' || typeof subscriber.on !== 'function') {
    throw optionError('redisBus: subscriber option must be a connected node-redis v5 client of its own (client.duplicate())');
  }
  const prefix = options.prefix ?? 'live:';
  if (typeof prefix !== 'string') throw optionError('redisBus: prefix option must be a string');
  const lockWaitMs = options.lockWaitMs ?? DEFAULT_LOCK_WAIT_MS;
  if (typeof lockWaitMs !== 'number' || !(lockWaitMs > 0) || !Number.isFinite(lockWaitMs)) {
    throw optionError('redisBus: lockWaitMs option must be a positive number of milliseconds');
  }
  const channel = `${prefix}bus`;

  const listeners = new Set<(message: BusMessage) => void>();
  const cutOffListeners: Array<() => void> = [];
  const resyncListeners: Array<() => void> = [];
  let cutOff = false;
  let probeId: string | undefined;

  function onMessage(raw: string) {
    let message: BusMessage;
    try {
      message = JSON.parse(raw) as BusMessage;
    } catch {
      log?.warn({}, 'ignoring a malformed bus message');
      return;
    }
    if (message.t === PROBE) {
      if (cutOff && message.id === probeId) restored();
      return;
    }
    for (const l of listeners) l(message);
  }

  function restored() {
    cutOff = false;
    probeId = undefined;
    log?.info?.({}, 'session bus subscription restored; re-reading live sessions');
    for (const l of resyncListeners) l();
  }

  /** Closed by the app (shutdown): nothing will come back, and nothing is left to probe for. */
  const closed = () => client.isOpen === false || subscriber.isOpen === false;

  /** Probes until the subscription works again; never keeps the process alive, and stops once the clients are closed. */
  async function probe() {
    while (cutOff) {
      await sleep(PROBE_EVERY_MS, undefined, { ref: false });
      if (!cutOff || closed()) return;
      probeId = randomUUID();
      await client.sPublish(channel, JSON.stringify({ t: PROBE, id: probeId })).catch(() => undefined);
    }
  }

  const onError = () => {
    if (cutOff) return;
    cutOff = true;
    log?.warn({}, 'session bus subscription cut off; changes may be missed until it is back');
    for (const l of cutOffListeners) l();
    void probe();
  };
  // A single client reports 'error'; a cluster reports 'node-error' for any of its nodes.
  subscriber.on('error', onError);
  subscriber.on('node-error', onError);

  const ready = subscriber.sSubscribe(channel, onMessage).then(() => undefined);

  return {
    ready,
    async publish(message) {
      await client.sPublish(channel, JSON.stringify(message));
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    onCutOff(listener) {
      cutOffListeners.push(listener);
    },
    onResync(listener) {
      resyncListeners.push(listener);
    },
    lock: redisLock(client, (sid) => `${prefix}sesslock:${sid}`, lockWaitMs),
    index: redisIndex(client, (userKey) => `${prefix}usess:${userKey}`),
  };
}
