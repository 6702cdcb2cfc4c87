import type { RedisKeys } from '../keys.js';
import type { PresenceStore } from '../types.js';
import type { RedisClient } from './client.js';
import { luaScript, runLua } from './lua.js';

export interface RedisPresenceOptions {
  processId: string;
  /** A process whose last heartbeat is older than this is presumed dead. */
  sweepAfterMs?: number;
}

export type RedisPresenceStore = PresenceStore & {
  /** Marks this process alive now. Call it well within `sweepAfterMs`. */
  heartbeat(): Promise<void>;
  /** Forgets the sockets of dead processes; answers the userIds that thereby went offline. */
  sweep(): Promise<string[]>;
  /** The [userId, socketId] entries this process has recorded (to resync after an outage). */
  mine(): Promise<Array<[userId: string, socketId: string]>>;
};

const DEFAULT_SWEEP_AFTER_MS = 15_000;

/*
 * Layout (every key from keys.ts):
 *   presence                 set of online userIds (⇔ their socket hash is non-empty)
 *   presence:user:<uid>      hash socketId → processId
 *   presence:proc:<pid>      set of JSON [userId, socketId] a process recorded
 *   presence:procs           sorted set processId → last heartbeat, in ms of the Redis clock
 * The scripts keep these consistent in one step each, so two processes racing
 * on the same user still see exactly one "first" and one "last". Times come
 * from Redis TIME so that clock skew between app hosts cannot cause a sweep.
 */

const NOW_MS = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/**
 * KEYS: user, proc, online, procs. ARGV: userId, socketId, processId, maxSockets (0: no cap).
 * Returns 1 for the user's first socket, 0 for another, -1 (recording nothing) when the user already has maxSockets.
 */
const CONNECT = luaScript(`
local max = tonumber(ARGV[4])
if max > 0 and redis.call('HLEN', KEYS[1]) >= max and redis.call('HEXISTS', KEYS[1], ARGV[2]) == 0 then return -1 end
${NOW_MS}
redis.call('ZADD', KEYS[4], now, ARGV[3])
local added = redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('SADD', KEYS[2], cjson.encode({ARGV[1], ARGV[2]}))
if added == 1 and redis.call('HLEN', KEYS[1]) == 1 then
  redis.call('SADD', KEYS[3], ARGV[1])
  return 1
end
return 0
`);

/** KEYS: user, proc (the one that recorded the socket), online. ARGV: userId, socketId. Returns 1 for the last socket. */
const DISCONNECT = luaScript(`
local removed = redis.call('HDEL', KEYS[1], ARGV[2])
redis.call('SREM', KEYS[2], cjson.encode({ARGV[1], ARGV[2]}))
if removed == 1 and redis.call('HLEN', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[3], ARGV[1])
  return 1
end
return 0
`);

/** KEYS: procs. ARGV: processId. */
const HEARTBEAT = luaScript(`${NOW_MS}
redis.call('ZADD', KEYS[1], now, ARGV[1])
return now
`);

/** KEYS: procs. ARGV: sweepAfterMs. Returns the processIds whose heartbeat is too old. */
const DEAD_PROCESSES = luaScript(`${NOW_MS}
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - tonumber(ARGV[1])))
`);

/**
 * Drops a swept process from the registry, unless it heartbeated meanwhile
 * (then it is alive after all and keeps its place).
 * KEYS: procs, proc. ARGV: processId, sweepAfterMs.
 */
const FORGET_PROCESS = luaScript(`${NOW_MS}
local seen = redis.call('ZSCORE', KEYS[1], ARGV[1])
if seen and tonumber(seen) >= now - tonumber(ARGV[2]) then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
return 1
`);

function parseEntry(raw: string): [userId: string, socketId: string] | null {
  try {
    const value: unknown = JSON.parse(raw);
    if (Array.isArray(value) && typeof value[0] === 'string' && typeof value[1] === 'string') return [value[0], value[1]];
  } catch {
    // fall through: a foreign or corrupt member is skipped, not fatal to the sweep
  }
  return null;
}

export function createRedisPresenceStore(client: RedisClient, keys: RedisKeys, opts: RedisPresenceOptions): RedisPresenceStore {
  const { processId } = opts;
  const sweepAfterMs = opts.sweepAfterMs ?? DEFAULT_SWEEP_AFTER_MS;

  async function disconnectFrom(owner: string, userId: string, socketId: string): Promise<boolean> {
    const last = await runLua(client, DISCONNECT, [keys.presenceUser(userId), keys.presenceProcess(owner), keys.presence], [userId, socketId]);
    return last === 1;
  }

  /** Disconnects every socket a dead process recorded; answers who went offline. */
  async function sweepProcess(deadId: string): Promise<string[]> {
    const offline: string[] = [];
    for (const raw of await client.sMembers(keys.presenceProcess(deadId))) {
      const entry = parseEntry(raw);
      if (entry && (await disconnectFrom(deadId, ...entry))) offline.push(entry[0]);
    }
    await runLua(client, FORGET_PROCESS, [keys.presenceProcesses, keys.presenceProcess(deadId)], [deadId, String(sweepAfterMs)]);
    return offline;
  }

  return {
    async connect(userId, socketId, maxSockets = 0) {
      const answer = await runLua(
        client,
        CONNECT,
        [keys.presenceUser(userId), keys.presenceProcess(processId), keys.presence, keys.presenceProcesses],
        [userId, socketId, processId, String(maxSockets)],
      );
      return answer === 1 ? 'first' : answer === 0 ? 'more' : 'full';
    },
    disconnect(userId, socketId) {
      return disconnectFrom(processId, userId, socketId);
    },
    async online() {
      return client.sMembers(keys.presence);
    },
    async heartbeat() {
      await runLua(client, HEARTBEAT, [keys.presenceProcesses], [processId]);
    },
    async mine() {
      const raw = await client.sMembers(keys.presenceProcess(processId));
      return raw.map(parseEntry).filter((e): e is [string, string] => e !== null);
    },
    async sweep() {
      const dead = (await runLua(client, DEAD_PROCESSES, [keys.presenceProcesses], [String(sweepAfterMs)])) as string[];
      const offline = new Set<string>();
      // Never sweep ourselves: a process that is running this code is alive, however late its timer fired.
      for (const deadId of dead.filter((id) => id !== processId)) {
        for (const userId of await sweepProcess(deadId)) offline.add(userId);
      }
      return [...offline];
    },
  };
}
