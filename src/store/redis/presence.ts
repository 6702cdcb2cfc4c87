import type { RedisKeys } from '../keys.js';
import type { PresenceDisconnect, PresenceStore } from '../../chat/ports.js';
import type { PresenceUpkeep, RecordedPresence } from '../../realtime/ports.js';

export type RedisPresenceStore = PresenceStore & PresenceUpkeep;
import type { RedisClient } from './client.js';
import { luaScript, NOW_MS, runLua } from './lua.js';
import { PRESENCE_DEAD_AFTER_MS } from '../../timings.js';

export interface RedisPresenceOptions {
  processId: string;
  /** A process whose last heartbeat is older than this is presumed dead (default: timings.ts). */
  sweepAfterMs?: number;
  /**
   * Told at each heartbeat whether every live process registers the rooms it serves
   * (room-servers.ts; a process of an older release does not): this process does.
   */
  onHeartbeat?: (everyoneRegisters: boolean) => void;
}

/*
 * Layout (every key from keys.ts, all under the Redis Cluster hash tag {presence}):
 *   {presence}:online           set of online userIds (⇔ their socket hash is non-empty, or they have a grace key)
 *   {presence}:user:<uid>       hash socketId → processId
 *   {presence}:grace:<uid>      JSON [processId, socketId]: the user's last socket left that process; it settles
 *                               the grace period (never both this and a socket: a socket that comes back deletes it)
 *   {presence}:proc:<pid>       set of what a process recorded: JSON [userId, socketId] per socket, [userId] per grace period
 *   {presence}:procs            sorted set processId → last heartbeat, in ms of the Redis clock
 *   {presence}:registering      set of the processIds that register the rooms they serve (room-servers.ts)
 * The scripts keep these consistent in one step each, so two processes racing on the
 * same user still see exactly one "first" and one "offline". Online and offline are
 * the answers of SADD and SREM on the online set, so for each user they alternate.
 * A process's set may keep a stale [userId] after another process ended that grace
 * period (a script cannot name another process's key); the owner's settle or the sweep
 * drops it. Times come from Redis TIME so that clock skew between app hosts cannot cause a sweep.
 */


/**
 * KEYS: user, proc, online, procs, grace. ARGV: userId, socketId, processId, maxSockets (0: no cap).
 * Returns 1 when the user was offline, 0 when not (another socket, or back within the
 * grace period, which this ends), -1 (recording nothing) when the user already has maxSockets.
 */
const CONNECT = luaScript(`
local max = tonumber(ARGV[4])
if max > 0 and redis.call('HLEN', KEYS[1]) >= max and redis.call('HEXISTS', KEYS[1], ARGV[2]) == 0 then return -1 end
${NOW_MS}
redis.call('ZADD', KEYS[4], now, ARGV[3])
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('SADD', KEYS[2], cjson.encode({ARGV[1], ARGV[2]}))
redis.call('DEL', KEYS[5])
return redis.call('SADD', KEYS[3], ARGV[1])
`);

/**
 * KEYS: user, proc (of the process that recorded the socket), online, grace. ARGV: userId, socketId, processId, grace (1 or 0).
 * Returns 0 when it was not the user's last socket (or unknown), 1 when the grace period began, 2 when the user went offline.
 */
const DISCONNECT = luaScript(`
local removed = redis.call('HDEL', KEYS[1], ARGV[2])
redis.call('SREM', KEYS[2], cjson.encode({ARGV[1], ARGV[2]}))
if removed == 0 or redis.call('HLEN', KEYS[1]) > 0 then return 0 end
if ARGV[4] == '1' then
  redis.call('SET', KEYS[4], cjson.encode({ARGV[3], ARGV[2]}))
  redis.call('SADD', KEYS[2], cjson.encode({ARGV[1]}))
  return 1
end
return redis.call('SREM', KEYS[3], ARGV[1]) * 2
`);

/**
 * Ends a grace period of process ARGV[2]: the one its socket ARGV[3] started, or ('') whichever it owns.
 * KEYS: grace, online, proc (of that process). ARGV: userId, processId, socketId. Returns 1 when the user went offline.
 */
const SETTLE = luaScript(`
local raw = redis.call('GET', KEYS[1])
local owner = raw and cjson.decode(raw)
local mine = owner and owner[1] == ARGV[2]
if mine and (ARGV[3] == '' or owner[2] == ARGV[3]) then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[3], cjson.encode({ARGV[1]}))
  return redis.call('SREM', KEYS[2], ARGV[1])
end
if not mine then redis.call('SREM', KEYS[3], cjson.encode({ARGV[1]})) end
return 0
`);

/** KEYS: procs. ARGV: processId, sweepAfterMs, afterMs. Makes the process's last heartbeat go stale in afterMs. */
const HAND_OVER = luaScript(`${NOW_MS}
redis.call('ZADD', KEYS[1], now - tonumber(ARGV[2]) + tonumber(ARGV[3]), ARGV[1])
return now
`);

/**
 * KEYS: procs, registering. ARGV: processId, sweepAfterMs. Returns 1 when every live
 * process (a heartbeat within sweepAfterMs) registers the rooms it serves, else 0.
 */
const HEARTBEAT = luaScript(`${NOW_MS}
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('SADD', KEYS[2], ARGV[1])
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], now - tonumber(ARGV[2]), '+inf')) do
  if redis.call('SISMEMBER', KEYS[2], id) == 0 then return 0 end
end
return 1
`);

/** KEYS: procs. ARGV: sweepAfterMs. Returns the processIds whose heartbeat is too old. */
const DEAD_PROCESSES = luaScript(`${NOW_MS}
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - tonumber(ARGV[1])))
`);

/**
 * Drops a swept process from the registry, unless it heartbeated meanwhile
 * (then it is alive after all and keeps its place).
 * KEYS: procs, proc, registering. ARGV: processId, sweepAfterMs.
 */
const FORGET_PROCESS = luaScript(`${NOW_MS}
local seen = redis.call('ZSCORE', KEYS[1], ARGV[1])
if seen and tonumber(seen) >= now - tonumber(ARGV[2]) then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[3], ARGV[1])
return 1
`);

type Entry = { userId: string; socketId: string } | { userId: string; socketId?: undefined };

/** A member of a process's set: a socket ([userId, socketId]) or a grace period ([userId]). */
function parseEntry(raw: string): Entry | null {
  try {
    const value: unknown = JSON.parse(raw);
    if (Array.isArray(value) && typeof value[0] === 'string') {
      if (value.length === 1) return { userId: value[0] };
      if (value.length === 2 && typeof value[1] === 'string') return { userId: value[0], socketId: value[1] };
    }
  } catch {
    // fall through: a foreign or corrupt member is skipped, not fatal to the sweep
  }
  return null;
}

export function createRedisPresenceStore(client: RedisClient, keys: RedisKeys, opts: RedisPresenceOptions): RedisPresenceStore {
  const { processId } = opts;
  const sweepAfterMs = opts.sweepAfterMs ?? PRESENCE_DEAD_AFTER_MS;

  async function disconnectFrom(owner: string, userId: string, socketId: string, grace: boolean): Promise<PresenceDisconnect> {
    const answer = await runLua(
      client,
      DISCONNECT,
      [keys.presenceUser(userId), keys.presenceProcess(owner), keys.presence, keys.presenceGrace(userId)],
      [userId, socketId, owner, grace ? '1' : '0'],
    );
    return answer === 1 ? 'grace' : answer === 2 ? 'offline' : 'none';
  }

  async function settleOf(owner: string, userId: string, socketId: string): Promise<boolean> {
    const answer = await runLua(client, SETTLE, [keys.presenceGrace(userId), keys.presence, keys.presenceProcess(owner)], [userId, owner, socketId]);
    return answer === 1;
  }

  async function recorded(pid: string): Promise<Entry[]> {
    return (await client.sMembers(keys.presenceProcess(pid))).map(parseEntry).filter((e): e is Entry => e !== null);
  }

  /** Forgets every socket and grace period a dead process recorded; answers who went offline. */
  async function sweepProcess(deadId: string): Promise<string[]> {
    const offline: string[] = [];
    for (const { userId, socketId } of await recorded(deadId)) {
      const gone = socketId === undefined ? await settleOf(deadId, userId, '') : (await disconnectFrom(deadId, userId, socketId, false)) === 'offline';
      if (gone) offline.push(userId);
    }
    await runLua(client, FORGET_PROCESS, [keys.presenceProcesses, keys.presenceProcess(deadId), keys.presenceRegistering], [deadId, String(sweepAfterMs)]);
    return offline;
  }

  return {
    async connect(userId, socketId, maxSockets = 0) {
      const answer = await runLua(
        client,
        CONNECT,
        [keys.presenceUser(userId), keys.presenceProcess(processId), keys.presence, keys.presenceProcesses, keys.presenceGrace(userId)],
        [userId, socketId, processId, String(maxSockets)],
      );
      return answer === 1 ? 'first' : answer === 0 ? 'more' : 'full';
    },
    disconnect(userId, socketId, o = {}) {
      return disconnectFrom(processId, userId, socketId, o.grace === true);
    },
    settle(userId, socketId) {
      return settleOf(processId, userId, socketId ?? '');
    },
    async online() {
      return client.sMembers(keys.presence);
    },
    async heartbeat() {
      const everyone = await runLua(client, HEARTBEAT, [keys.presenceProcesses, keys.presenceRegistering], [processId, String(sweepAfterMs)]);
      opts.onHeartbeat?.(everyone === 1);
    },
    async handOver(afterMs) {
      await runLua(client, HAND_OVER, [keys.presenceProcesses], [processId, String(sweepAfterMs), String(afterMs)]);
    },
    async mine() {
      const out: RecordedPresence = { sockets: [], graces: [] };
      for (const e of await recorded(processId)) {
        if (e.socketId === undefined) out.graces.push(e.userId);
        else out.sockets.push([e.userId, e.socketId]);
      }
      return out;
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
