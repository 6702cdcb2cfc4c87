import type { RedisKeys } from '../keys.js';
import type { PresenceConnect, PresenceDisconnect, PresenceStore } from '../../chat/ports.js';
import type { PresenceResync, PresenceUpkeep } from '../../realtime/ports.js';
import type { RedisClient } from './client.js';
import { luaScript, NOW_MS, runLua } from './lua.js';
import { PRESENCE_DEAD_AFTER_MS } from '../../timings.js';

/** What a process has recorded: its users ([userId, "@<processId>"]; an older release recorded each socket) and grace periods. */
export interface RecordedPresence {
  sockets: Array<[userId: string, socketId: string]>;
  graces: string[];
}

export interface RedisPresenceStore extends PresenceStore, PresenceUpkeep {
  /** What this process has recorded (for inspection). */
  mine(): Promise<RecordedPresence>;
}

/** The most spare slots a process leases for one user at a time (see "Slot leases" below). */
export const SPARE_MAX = 16;

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
 *   {presence}:user:<uid>       hash of the socket slots a user holds: `@<processId>` → how many slots that process
 *                               leased (see below); a release before 2026-12 wrote socketId → processId, one per socket
 *   {presence}:grace:<uid>      JSON [processId, socketId]: the user's last socket left that process; it settles
 *                               the grace period (never both this and a socket: a socket that comes back deletes it)
 *   {presence}:proc:<pid>       set of what a process recorded: JSON [userId, "@<pid>"] per user with slots there
 *                               ([userId, socketId] per socket in an older release), [userId] per grace period
 *   {presence}:procs            sorted set processId → last heartbeat, in ms of the Redis clock
 *   {presence}:registering      set of the processIds that register the rooms they serve (room-servers.ts)
 * The scripts keep these consistent in one step each, so two processes racing on the
 * same user still see exactly one "first" and one "offline". Online and offline are
 * the answers of SADD and SREM on the online set, so for each user they alternate.
 * A process's set may keep a stale [userId] after another process ended that grace
 * period (a script cannot name another process's key); the owner's settle or the sweep
 * drops it. Times come from Redis TIME so that clock skew between app hosts cannot cause a sweep.
 *
 * Slot leases. A process records a user once, at the user's first socket there, and
 * takes a few spare slots with it; the user's next sockets there spend those without a
 * round trip, and Redis hears of the user again when the spare is spent (a bigger lease
 * then, up to SPARE_MAX), when sockets leave more spare than is kept (given back), and
 * at the last socket there (the field is deleted, which may start the grace period).
 * The cap counts slots, so it is never exceeded. Spare slots are taken only while the
 * user stays within half the cap and are at most a 1/8 of it per process (none under a
 * cap of 8): above half, each socket is counted as it comes and each one that leaves is
 * given back at once. What that costs: a user above half the cap, with sockets on
 * several processes, may be refused up to the spare other processes hold for them
 * before reaching the cap.
 * Within an older release's hash, one of its socket fields counts as one slot.
 */

/**
 * Lua: records slots of the user for process ARGV[3] (`write` sets or increments its field ARGV[2]),
 * as the sweep will find them, and ends a grace period; `online` is 1 when the user was offline.
 * KEYS: user, proc, online, procs, grace.
 */
const recordSlots = (write: string) => `${NOW_MS}
redis.call('ZADD', KEYS[4], now, ARGV[3])
${write}
redis.call('SADD', KEYS[2], cjson.encode({ARGV[1], ARGV[2]}))
redis.call('DEL', KEYS[5])
local online = redis.call('SADD', KEYS[3], ARGV[1])`;

/**
 * Leases slots. KEYS: user, proc, online, procs, grace. ARGV: userId, field (`@<processId>`),
 * processId, maxSockets (0: no cap), want (the slots asked for: one for the socket, the rest spare).
 * Returns {online, granted}: online 1 when the user was offline, 0 when not (another socket,
 * or back within the grace period, which this ends); {-1, 0} (recording nothing) when the
 * user's slots are all taken. Granted: want, or 1 where spare would take the user past half the cap.
 */
const CONNECT = luaScript(`
local max = tonumber(ARGV[4])
local grant = tonumber(ARGV[5])
if max > 0 then
  local held = 0
  local kv = redis.call('HGETALL', KEYS[1])
  for i = 1, #kv, 2 do
    if string.byte(kv[i], 1) == 64 then held = held + tonumber(kv[i + 1]) else held = held + 1 end
  end
  if held >= max then return {-1, 0} end
  if held + grant > math.floor(max / 2) then grant = 1 end
end
${recordSlots(`redis.call('HINCRBY', KEYS[1], ARGV[2], grant)`)}
return {online, grant}
`);

/**
 * Gives spare slots back, keeping at least one. KEYS: user. ARGV: field, how many.
 * Returns how many were given back (0 when the field is gone: a sweep took it).
 */
const RELEASE = luaScript(`
local held = tonumber(redis.call('HGET', KEYS[1], ARGV[1]))
if not held then return 0 end
local back = math.min(tonumber(ARGV[2]), held - 1)
if back <= 0 then return 0 end
redis.call('HINCRBY', KEYS[1], ARGV[1], -back)
return back
`);

/**
 * Puts a process's lease back as it is (after an outage, when writes may have been lost):
 * KEYS: user, proc, online, procs, grace. ARGV: userId, field, processId, slots.
 * Returns 1 when the user was offline (then announced online again), else 0.
 */
const RESTORE = luaScript(`
${recordSlots(`redis.call('HSET', KEYS[1], ARGV[2], ARGV[4])`)}
return online
`);

/**
 * Removes a field of the user's hash: a process's lease (its last socket there left) or, in an
 * older release's layout, one socket. KEYS: user, proc (of the process that recorded it), online, grace.
 * ARGV: userId, field, processId, grace (1 or 0), socketId (the socket whose leaving starts the grace period).
 * Returns 0 when the user still has slots (or the field was unknown), 1 when the grace period began, 2 when the user went offline.
 */
const DISCONNECT = luaScript(`
local removed = redis.call('HDEL', KEYS[1], ARGV[2])
redis.call('SREM', KEYS[2], cjson.encode({ARGV[1], ARGV[2]}))
if removed == 0 or redis.call('HLEN', KEYS[1]) > 0 then return 0 end
if ARGV[4] == '1' then
  redis.call('SET', KEYS[4], cjson.encode({ARGV[3], ARGV[5]}))
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
 * KEYS: procs, registering, proc. ARGV: processId, sweepAfterMs. Returns {everyone, recorded}:
 * everyone 1 when every live process (a heartbeat within sweepAfterMs) registers the rooms it
 * serves, else 0; recorded 1 when this process's set exists (a sweep that took the process for
 * dead, or a Redis that lost its data, deletes it).
 */
const HEARTBEAT = luaScript(`${NOW_MS}
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('SADD', KEYS[2], ARGV[1])
local recorded = redis.call('EXISTS', KEYS[3])
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], now - tonumber(ARGV[2]), '+inf')) do
  if redis.call('SISMEMBER', KEYS[2], id) == 0 then return {0, recorded} end
end
return {1, recorded}
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

/** A member of a process's set: a user's lease or (older release) socket ([userId, field]), or a grace period ([userId]). */
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

/** This process's slots of one user: how many it leased, and the sockets spending them. */
interface Lease {
  granted: number;
  sockets: Set<string>;
  /** The cap the last connect counted against (0: none). */
  max: number;
  /** The last of this user's Redis calls, in order (a lease, a give-back, the release, a restore). */
  tail: Promise<void> | undefined;
}

/**
 * Spare slots to lease, or to keep when sockets leave: as many as the user has sockets
 * here (so a lease doubles as sockets keep coming), at most SPARE_MAX, at most an eighth
 * of the cap (none under a cap of 8, where every socket is counted exactly).
 */
function spareFor(lease: Lease): number {
  const spare = Math.min(SPARE_MAX, Math.max(1, lease.sockets.size));
  return lease.max > 0 ? Math.min(spare, Math.floor(lease.max / 8)) : spare;
}

export function createRedisPresenceStore(client: RedisClient, keys: RedisKeys, opts: RedisPresenceOptions): RedisPresenceStore {
  const { processId } = opts;
  const sweepAfterMs = opts.sweepAfterMs ?? PRESENCE_DEAD_AFTER_MS;
  /** This process's field in each user's hash. */
  const field = `@${processId}`;
  const leases = new Map<string, Lease>();

  /**
   * Runs a Redis call of a user's lease after the ones before it, so that a lease, its
   * give-backs and its release reach Redis in the order this process decided them. An
   * idle lease with no slot is forgotten.
   */
  function serial<T>(userId: string, held: Lease, fn: () => Promise<T>): Promise<T> {
    const run = (held.tail ?? Promise.resolve()).then(fn);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    held.tail = tail;
    void tail.then(() => {
      if (held.tail !== tail) return;
      held.tail = undefined;
      if (held.granted === 0 && held.sockets.size === 0 && leases.get(userId) === held) leases.delete(userId);
    });
    return run;
  }

  const userKeys = (userId: string, owner: string) => [keys.presenceUser(userId), keys.presenceProcess(owner), keys.presence, keys.presenceProcesses, keys.presenceGrace(userId)];

  async function disconnectFrom(owner: string, userId: string, name: string, socketId: string, grace: boolean): Promise<PresenceDisconnect> {
    const answer = await runLua(
      client,
      DISCONNECT,
      [keys.presenceUser(userId), keys.presenceProcess(owner), keys.presence, keys.presenceGrace(userId)],
      [userId, name, owner, grace ? '1' : '0', socketId],
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

  /** Forgets every lease, socket and grace period a dead process recorded; answers who went offline. */
  async function sweepProcess(deadId: string): Promise<string[]> {
    const offline: string[] = [];
    for (const { userId, socketId } of await recorded(deadId)) {
      const gone = socketId === undefined ? await settleOf(deadId, userId, '') : (await disconnectFrom(deadId, userId, socketId, socketId, false)) === 'offline';
      if (gone) offline.push(userId);
    }
    await runLua(client, FORGET_PROCESS, [keys.presenceProcesses, keys.presenceProcess(deadId), keys.presenceRegistering], [deadId, String(sweepAfterMs)]);
    return offline;
  }

  /** Leases slots for a socket that found no spare here: its user's first socket here, or the spare is spent. */
  async function take(userId: string, held: Lease, socketId: string, maxSockets: number) {
    if (held.sockets.has(socketId)) return 'more';
    if (held.sockets.size < held.granted) {
      held.sockets.add(socketId); // slots leased while this call waited its turn
      return 'more';
    }
    const [online, granted] = (await runLua(client, CONNECT, userKeys(userId, processId), [userId, field, processId, String(maxSockets), String(1 + spareFor(held))])) as [number, number];
    if (online === -1) return 'full';
    held.granted += granted;
    held.sockets.add(socketId);
    return online === 1 ? 'first' : 'more';
  }

  /** Gives back the spare beyond what is kept; the lease keeps one slot per socket. */
  async function giveBack(userId: string, held: Lease) {
    const extra = held.granted - held.sockets.size - spareFor(held);
    if (extra <= 0 || held.sockets.size === 0) return;
    const back = Number(await runLua(client, RELEASE, [keys.presenceUser(userId)], [field, String(extra)]));
    held.granted -= back;
  }

  /** The last socket of the user here left: the lease ends (unless a socket came meanwhile). */
  async function release(userId: string, held: Lease, socketId: string, grace: boolean): Promise<PresenceDisconnect> {
    if (held.sockets.size > 0) return 'none';
    held.granted = 0;
    return disconnectFrom(processId, userId, field, socketId, grace);
  }

  /** PresenceStore.connectNow: a spare slot this process leased already, with no call of the user's in flight. */
  function connectNow(userId: string, socketId: string, maxSockets = 0): PresenceConnect | undefined {
    const held = leases.get(userId);
    if (!held || held.tail) return undefined; // no lease here, or a call of the user's in flight: connect waits its turn
    if (!held.sockets.has(socketId)) {
      if (held.sockets.size >= held.granted) return undefined; // no spare slot: connect leases some
      held.sockets.add(socketId); // the user is online and counted: nothing to ask Redis
    }
    held.max = maxSockets;
    return 'more';
  }

  return {
    connectNow,
    connect(userId, socketId, maxSockets = 0) {
      const now = connectNow(userId, socketId, maxSockets);
      if (now) return Promise.resolve(now);
      let held = leases.get(userId);
      if (!held) leases.set(userId, (held = { granted: 0, sockets: new Set(), max: maxSockets, tail: undefined }));
      held.max = maxSockets;
      if (held.sockets.has(socketId)) return Promise.resolve('more');
      const own = held;
      return serial(userId, own, () => take(userId, own, socketId, maxSockets));
    },
    disconnect(userId, socketId, o = {}) {
      const held = leases.get(userId);
      if (!held?.sockets.delete(socketId)) return Promise.resolve('none');
      if (held.sockets.size === 0) return serial(userId, held, () => release(userId, held, socketId, o.grace === true));
      if (held.granted - held.sockets.size <= spareFor(held)) return Promise.resolve('none');
      return serial(userId, held, async () => {
        await giveBack(userId, held);
        return 'none' as const;
      });
    },
    settle(userId, socketId) {
      return settleOf(processId, userId, socketId ?? '');
    },
    async online() {
      return client.sMembers(keys.presence);
    },
    async heartbeat() {
      const [everyone, recorded] = (await runLua(client, HEARTBEAT, [keys.presenceProcesses, keys.presenceRegistering, keys.presenceProcess(processId)], [processId, String(sweepAfterMs)])) as [number, number];
      opts.onHeartbeat?.(everyone === 1);
      // Sockets here, and no record of them: swept as dead (a stall longer than sweepAfterMs), or Redis lost its data.
      return recorded === 1 || ![...leases.values()].some((held) => held.sockets.size > 0);
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
    async resync(grace) {
      const out: PresenceResync = { online: [], left: [], graces: [] };
      const recordedUsers = new Set<string>();
      // (A process id is new at each start: only this release's entries are under it.)
      for (const e of await recorded(processId)) {
        if (e.socketId === undefined) out.graces.push(e.userId);
        else recordedUsers.add(e.userId);
      }
      // Leases of users with no socket here any more: their release was lost.
      for (const userId of recordedUsers) {
        if (leases.get(userId)?.sockets.size) continue;
        out.left.push({ userId, answer: await disconnectFrom(processId, userId, field, '', grace) });
      }
      // Leases as this process counts them, written whole (whatever of them Redis lost).
      for (const [userId, held] of leases) {
        if (held.sockets.size === 0) continue;
        const restore = async () => {
          if (held.sockets.size === 0) return;
          held.granted = Math.max(held.granted, held.sockets.size);
          const args = [userId, field, processId, String(held.granted)];
          if ((await runLua(client, RESTORE, userKeys(userId, processId), args)) === 1) out.online.push(userId);
        };
        await serial(userId, held, restore);
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
