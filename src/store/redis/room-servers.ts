import type { Logger } from '../../logger.js';
import type { ConnectionHealth, RoomLapses } from '../../realtime/ports.js';
import { socketRooms } from '../../realtime/rooms.js';
import type { RedisKeys } from '../keys.js';
import type { RedisClient } from './client.js';
import { luaScript, NOW_MS, runLua } from './lua.js';

/**
 * Registers this process as a server of a room for leaseMs more (Redis clock), and the
 * whole key for as long, so that it vanishes once no process renews it.
 * KEYS: servers. ARGV: processId, leaseMs. Returns 1 when its previous lease was still running.
 */
const ENTER = luaScript(`${NOW_MS}
local before = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
redis.call('HSET', KEYS[1], ARGV[1], now + tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
if before > now then return 1 end
return 0
`);

interface Entry {
  /**
   * When the last renewal that Redis answered was sent (local clock); its lease runs from a
   * moment later (Redis clock). 0: never answered yet. 1 after a cut-off: held, but not to
   * be trusted until renewed.
   */
  sentAt: number;
  /** The renewal in flight, if any. */
  pending?: Promise<void>;
}

export interface RoomServersOptions {
  client: RedisClient;
  keys: RedisKeys;
  processId: string;
  /** The subscriber's health: after an outage every lease is renewed (and a lapse caught up). */
  health: ConnectionHealth;
  log: Logger;
  leaseMs: number;
  /** Whether this process still serves a room (sockets in it here, or a join holding its channel). */
  serving: (room: string) => boolean;
}

/**
 * Which processes serve a chat room: `{room:<id>}:servers`, a hash processId → lease
 * deadline, in the room's hash slot, so that the script that stores a message (chat.ts)
 * also learns in the same step whether any other process may have sockets in the room.
 * When none may, the message is not published at all: no SPUBLISH, and no copy of it
 * read back from Redis by this very process.
 *
 * Why that is safe: a process enters a room (renews its lease) after its subscription
 * to the room's channel is in place and before the joining socket reads the room's
 * history (RoomChannels.hold). A message stored before that entry is in the history;
 * one stored after it sees the entry and is published, and the subscription gets it.
 * While it has sockets in the room, a process renews its lease every leaseMs / 3. A
 * renewal that finds its lease ran out (the event loop stalled, a Redis failover lost
 * it) tells `onLapse`, and the room is caught up from the store (recovery.ts), as after
 * an outage. A process that stops serving a room drops its entry at the next renewal
 * round; one that dies leaves it for at most leaseMs (others publish meanwhile, as
 * they always did).
 */
export function createRoomServers(o: RoomServersOptions): RoomServers {
  const { client, keys, processId, log, leaseMs } = o;
  const renewEveryMs = Math.floor(leaseMs / 3);
  const entries = new Map<string, Entry>();
  const lapseListeners: Array<(room: string) => void> = [];

  const lapsed = (room: string) => {
    log.warn({ room }, 'this process\'s lease on a room ran out while it served it; catching the room up from the store');
    for (const listener of lapseListeners) listener(room);
  };

  /** Renews the room's lease; `known`: this process held one already, so finding it run out is a lapse. */
  function renew(room: string, entry: Entry, known: boolean): Promise<void> {
    if (entry.pending) return entry.pending;
    const sentAt = Date.now();
    const pending = runLua(client, ENTER, [keys.roomServers(socketRooms.roomId(room))], [processId, String(leaseMs)]).then(
      (running) => {
        entry.sentAt = sentAt;
        if (known && running !== 1) lapsed(room);
      },
    );
    entry.pending = pending.finally(() => (entry.pending = undefined));
    return entry.pending;
  }

  /** A renewal is due long before the lease runs out: half of it is left. */
  const fresh = (entry: Entry) => Date.now() - entry.sentAt < leaseMs / 2;

  /** Renews every room still served here and forgets the others; a failed round is one log line, not one per room. */
  function renewAll() {
    const renewals: Array<Promise<void>> = [];
    for (const [room, entry] of entries) {
      if (!o.serving(room)) {
        entries.delete(room);
        // Commands on one connection (one node, for one key) run in order: a later enter re-adds it.
        client.hDel(keys.roomServers(socketRooms.roomId(room)), processId).catch(() => undefined);
        continue;
      }
      renewals.push(renew(room, entry, entry.sentAt > 0));
    }
    void Promise.allSettled(renewals).then((results) => {
      const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed.length) log.warn({ rooms: failed.length, err: String(failed[0]!.reason) }, 'renewing this process\'s room leases failed; retrying at the next round');
    });
  }

  const timer = setInterval(renewAll, renewEveryMs);
  timer.unref();
  o.health.on('cut-off', () => {
    // Until renewed, a join must not trust a lease this process may have lost meanwhile.
    for (const entry of entries.values()) if (entry.sentAt > 0) entry.sentAt = 1;
  });
  o.health.on('restored', renewAll);

  return {
    async enter(room) {
      let entry = entries.get(room);
      if (entry && entry.sentAt > 0 && fresh(entry)) return;
      const known = entry !== undefined && entry.sentAt > 0;
      if (!entry) entries.set(room, (entry = { sentAt: 0 }));
      await renew(room, entry, known);
    },
    onLapse(listener) {
      lapseListeners.push(listener);
    },
    close() {
      clearInterval(timer);
    },
  };
}

export interface RoomServers extends RoomLapses {
  /**
   * From its answer on, this process counts as serving `room` (a chat room's Socket.IO
   * room) for every process's post to it, for as long as it has sockets there.
   */
  enter(room: string): Promise<void>;
  close(): void;
}
