/**
 * The ports of the realtime layer: what it needs from the backing services
 * beyond the chat's own stores (chat/ports.ts), implemented by src/store.
 */
import type { PresenceDisconnect } from '../chat/ports.js';

/**
 * Connection health, for what subscribes: `cut-off` when a connection (any node of
 * a cluster) fails, so pub/sub messages may be missed from then on; `restored` once
 * every connection is ready again, its subscriptions in place (after a failover:
 * on the new topology). Emitted once per outage.
 */
export interface ConnectionHealth {
  on(event: 'cut-off' | 'restored', listener: () => void): this;
}


/** Stops holding a room's channel (see RoomChannels). */
export type Release = () => void;

/**
 * The Socket.IO adapter subscribes to a room's channel when the room gets its
 * first socket on this process, without waiting for the subscription. A join
 * must not read history before it is in place (a message from another process
 * in between would be in neither), so it holds the channel around the join.
 */
export interface RoomChannels {
  /** Resolves once broadcasts to `room` from other processes reach this one; call the release after joining. */
  hold(room: string): Promise<Release>;
}

/**
 * Whether any other process has sockets in a room, as far as this process knows,
 * for broadcasts that may be lost (typing: a socket that joins a moment later
 * never sees it either). `alone` is true only shortly after a publish to the room
 * reached no other process, and no other process has said since that it joined.
 */
export interface RoomPeers {
  alone(room: string): boolean;
  /**
   * Publishes such a broadcast to the other processes with sockets in `room`, its packet
   * already in Socket.IO's wire format (`encoded`, as this process's sockets get it):
   * they write it to their sockets as it is, with no decoding or encoding of their own.
   * `except`: the rooms whose members do not get it (the sender's socket id). A process
   * of an older release ignores it, which a broadcast that may be lost can afford.
   */
  relay(room: string, except: readonly string[], encoded: string): void;
}

/**
 * Rooms this process served while other processes could not count it as a server
 * (its registration lapsed: see store/redis/room-servers.ts): a message stored
 * meanwhile may not have been published to it, so the room is caught up from the store.
 */
export interface RoomLapses {
  onLapse(listener: (room: string) => void): void;
}

/** What a resync changed, for presence to announce and settle. */
export interface PresenceResync {
  /** Users with sockets here whom Redis had lost: online again, to be announced. */
  online: string[];
  /** Users recorded here with no socket here any more, now forgotten: their grace period began, they went offline, or neither. */
  left: Array<{ userId: string; answer: PresenceDisconnect }>;
  /** Grace periods recorded by this process, to settle unless a timer here still will. */
  graces: string[];
}

/**
 * The upkeep of presence across processes (Redis): each process beats, and sweeps
 * what dead processes left. A store with one process (memory) has none.
 */
export interface PresenceUpkeep {
  /**
   * Marks this process alive now. Call it well within `sweepAfterMs`. False when what
   * this process recorded is gone from Redis (another process swept it as dead after a
   * long stall, or Redis lost its data): then `resync` puts it back.
   */
  heartbeat(): Promise<boolean>;
  /**
   * Forgets the sockets and grace periods of dead processes; answers the userIds that
   * thereby went offline (a grace period of a dead process is over: it ended long before the sweep).
   */
  sweep(): Promise<string[]>;
  /**
   * After an outage (writes may have been lost): makes what Redis has of this process
   * match its sockets, as the store counts them. `grace`: a user recorded here with no
   * socket left begins their grace period (which the caller settles, socket id '').
   */
  resync(grace: boolean): Promise<PresenceResync>;
  /**
   * For a process that is stopping: from `afterMs` on it counts as dead, so the next
   * sweep of another process settles what it leaves (the grace periods it can no longer settle itself).
   */
  handOver(afterMs: number): Promise<void>;
}
