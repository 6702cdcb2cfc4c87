import type { Logger } from '../../logger.js';
import type { RedisKeys } from '../keys.js';
import type { Bus, BusMessage, RelayedEvent, RoomInterest } from '../types.js';
import type { RedisClient } from './client.js';
import { jsonListener } from './infra.js';

export interface RedisRoomInterestOptions {
  processId: string;
  /** How often this process refreshes its own entry and re-reads everyone else's. */
  refreshMs?: number;
  /** A process that has not refreshed for this long is forgotten (its set expires). */
  ttlMs?: number;
}

export type RedisRoomInterest = RoomInterest & {
  /** Subscribes to this process's relay channel, writes its entry, reads the others', starts the refresh timer. */
  start(): Promise<void>;
  /** Lets pending writes finish, removes this process's entry, stops the timer. */
  close(): Promise<void>;
};

type RoomsMessage = Extract<BusMessage, { t: 'rooms' }>;

const DEFAULT_REFRESH_MS = 10_000;
const DEFAULT_TTL_MS = 35_000;

/*
 * Layout (every key from keys.ts):
 *   interest:procs       sorted set processId → last refresh (ms)
 *   interest:proc:<pid>  set of the Socket.IO rooms that process has sockets in; expires unless refreshed
 *   relay:<pid>          pub/sub channel of the ephemeral events for that process's sockets
 * Each change is written first, then announced on the bus ({t:'rooms', pid, room, here}) on the
 * same connection, so whoever reads the set after hearing the announcement sees the change.
 * {t:'rooms', pid} alone means "my set was rewritten: re-read it".
 *
 * Every process keeps a replica of the others' sets, and relays an ephemeral event with one
 * PUBLISH per process that has sockets in the room: none when nobody is elsewhere, and the
 * sender never reads its own event back (the adapter's stream costs an XADD that every
 * process, the sender included, reads and decodes, and it would crowd the durable
 * broadcasts out of the stream's bounded window).
 *
 * The replica can lag by a moment (a socket that joins a room on another process is known
 * here once the bus delivers the announcement, well under a millisecond on one host): fine
 * for typing, which clients treat as lossy anyway. While it is not known to be whole (before
 * the first read, while the bus is cut off) `relay` declines and callers use the adapter.
 */
export function createRedisRoomInterest(
  client: RedisClient,
  subscriber: RedisClient,
  bus: Bus,
  keys: RedisKeys,
  log: Logger,
  opts: RedisRoomInterestOptions,
): RedisRoomInterest {
  const { processId } = opts;
  const refreshMs = opts.refreshMs ?? DEFAULT_REFRESH_MS;
  const ttlMs = opts.ttlMs ?? DEFAULT_TTL_MS;
  const myKey = keys.interestProcess(processId);

  /** The rooms this process has sockets in. */
  const mine = new Set<string>();
  /** Writes in flight, per room, so that a join can wait for its own announcement. */
  const pending = new Map<string, Promise<void>>();
  /** The replica: per room, the other processes with sockets in it. */
  let processesIn = new Map<string, Set<string>>();
  /** False until the replica is whole, and again while the bus is cut off. */
  let known = false;
  let cutOff = false;
  /** A write failed (or Redis may have lost our set): rewrite the whole set on the next refresh. */
  let dirty = true;
  /** Bus messages that arrived while a reload was reading: replayed over its result. */
  let replay: RoomsMessage[] | null = null;
  let reloading: Promise<void> | undefined;
  let reloadAgain = false;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const deliverers: Array<(event: RelayedEvent) => void> = [];

  function put(pid: string, room: string) {
    let pids = processesIn.get(room);
    if (!pids) processesIn.set(room, (pids = new Set()));
    pids.add(pid);
  }

  function drop(pid: string, room: string) {
    const pids = processesIn.get(room);
    pids?.delete(pid);
    if (pids?.size === 0) processesIn.delete(room);
  }

  function apply(m: RoomsMessage) {
    if (m.room === undefined) return reloadOrDoubt();
    if (m.here) put(m.pid, m.room);
    else drop(m.pid, m.room);
  }

  function onBusMessage(m: BusMessage) {
    if (m.t !== 'rooms' || m.pid === processId || closed) return;
    replay?.push(m);
    apply(m);
  }

  /** Reads every other live process's set and replaces the replica with it. */
  async function reload() {
    replay = [];
    try {
      await client.zRemRangeByScore(keys.interestProcesses, '-inf', Date.now() - ttlMs);
      const pids = (await client.zRange(keys.interestProcesses, 0, -1)).filter((pid) => pid !== processId);
      const sets = await Promise.all(pids.map((pid) => client.sMembers(keys.interestProcess(pid))));
      processesIn = new Map();
      pids.forEach((pid, i) => {
        for (const room of sets[i] ?? []) put(pid, room);
      });
      for (const m of replay) apply(m);
      known = !cutOff;
    } finally {
      replay = null;
    }
  }

  /** One reload at a time; a request during one runs another after it. */
  function requestReload(): Promise<void> {
    if (reloading) {
      reloadAgain = true;
      return reloading;
    }
    reloading = (async () => {
      try {
        do {
          reloadAgain = false;
          await reload();
        } while (reloadAgain && !closed);
      } finally {
        reloading = undefined;
      }
    })();
    return reloading;
  }

  /** A process rewrote its set: re-read; if that fails, count every room as shared until a refresh succeeds. */
  function reloadOrDoubt() {
    requestReload().catch((err: unknown) => {
      known = false;
      log.warn({ err: String(err) }, 'room interest reload failed; treating every room as shared until the next refresh');
    });
  }

  const stamp = () => ({ score: Date.now(), value: processId });

  /** Records one change, then announces it (same connection, so in that order). */
  async function write(room: string, here: boolean) {
    const tx = client.multi();
    if (here) tx.sAdd(myKey, room);
    else tx.sRem(myKey, room);
    tx.pExpire(myKey, ttlMs).zAdd(keys.interestProcesses, stamp());
    await Promise.all([tx.exec(), bus.publish({ t: 'rooms', pid: processId, room, here })]);
  }

  /** Replaces this process's set with what it holds now, and tells the others to re-read it. */
  async function rewrite() {
    const tx = client.multi().del(myKey);
    if (mine.size) tx.sAdd(myKey, [...mine]).pExpire(myKey, ttlMs);
    tx.zAdd(keys.interestProcesses, stamp());
    await Promise.all([tx.exec(), bus.publish({ t: 'rooms', pid: processId })]);
  }

  function track(room: string, here: boolean): Promise<void> {
    const p: Promise<void> = write(room, here)
      .catch((err: unknown) => {
        if (!dirty) log.warn({ err: String(err), room }, 'room interest write failed; rewriting it on the next refresh');
        dirty = true;
      })
      .finally(() => {
        if (pending.get(room) === p) pending.delete(room);
      });
    pending.set(room, p);
    return p;
  }

  async function refresh() {
    try {
      if (dirty) {
        dirty = false;
        await rewrite();
      } else {
        await client.multi().pExpire(myKey, ttlMs).zAdd(keys.interestProcesses, stamp()).exec();
      }
      await requestReload();
    } catch (err) {
      if (!dirty) log.warn({ err: String(err) }, 'room interest refresh failed');
      dirty = true;
    }
  }

  bus.subscribe(onBusMessage);
  bus.onCutOff(() => {
    cutOff = true;
    known = false;
  });
  // Redis may have restarted empty: write our set again and re-read everyone's.
  bus.onResync(() => {
    cutOff = false;
    dirty = true;
    void refresh();
  });

  return {
    here(room) {
      if (mine.has(room)) return pending.get(room) ?? Promise.resolve();
      mine.add(room);
      return track(room, true);
    },
    gone(room) {
      if (mine.delete(room)) void track(room, false);
    },
    elsewhere(room) {
      return !known || processesIn.has(room);
    },
    relay(event) {
      if (!known) return false;
      const pids = processesIn.get(event.room);
      if (!pids) return true;
      const payload = JSON.stringify(event);
      // Ephemeral: a publish that fails (Redis away) is dropped, as a lost pub/sub message would be.
      for (const pid of pids) client.publish(keys.relayChannel(pid), payload).catch(() => undefined);
      return true;
    },
    onRelay(deliver) {
      deliverers.push(deliver);
    },
    async start() {
      await subscriber.subscribe(keys.relayChannel(processId), jsonListener(deliverers, log, 'relayed event'));
      await refresh();
      timer = setInterval(() => void refresh(), refreshMs);
      timer.unref();
    },
    async close() {
      closed = true;
      clearInterval(timer);
      await subscriber.unsubscribe(keys.relayChannel(processId)).catch(() => undefined);
      await Promise.allSettled([...pending.values()]);
      await Promise.allSettled([
        client.multi().del(myKey).zRem(keys.interestProcesses, processId).exec(),
        bus.publish({ t: 'rooms', pid: processId }),
      ]);
    },
  };
}
