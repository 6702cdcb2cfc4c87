import type { Store as SessionBaseStore } from 'express-session';
import type { Namespace } from 'socket.io';
import type { Adapter } from 'socket.io-adapter';
import type { LiveBus } from 'socket.io-live-session';
import type { ChatStore, PresenceStore, UserStore } from '../chat/ports.js';
import type { ConnectionHealth, PresenceUpkeep, RoomChannels, RoomLapses, RoomPeers } from '../realtime/ports.js';
import type { LimiterFactory, QuotaFactory } from '../security/limits.js';

/** Everything the backing services give the app (store/index.ts makes it, app.ts hands out the parts). */
export interface Stores {
  kind: 'redis' | 'memory';
  users: UserStore;
  /** The express-session store the live session wraps. */
  sessionBase: SessionBaseStore;
  /** The live session's bus (its lock and session index with it); the chat sends UserChanged on it too. */
  bus: LiveBus;
  /**
   * The subscriber connection's health (Redis only): cut off, and restored with its
   * subscriptions in place again (after a cluster failover too). Pub/sub consumers catch up then.
   */
  subscriptions?: ConnectionHealth;
  chat: ChatStore;
  presence: PresenceStore;
  /** The presence store's upkeep across processes (Redis only: in memory there is nothing to keep up). */
  presenceUpkeep?: PresenceUpkeep;
  roomChannels: RoomChannels;
  /** Limits counted one store call each (sign-ins, rooms created). */
  limiter: LimiterFactory;
  /** Points of the limits counted per socket event, leased (security/limits.ts). */
  quota: QuotaFactory;
  /** Socket.IO adapter factory for several processes (undefined: the in-memory default). */
  socketAdapter?: (nsp: Namespace) => Adapter;
  /** Which rooms have sockets on other processes, as far as this one knows (with socketAdapter). */
  roomPeers?: RoomPeers;
  /** Rooms to catch up because this process's registration as their server lapsed (with socketAdapter). */
  roomLapses?: RoomLapses;
  /** Whether an error means "a backing service is unreachable right now" (errors.ts maps it to `unavailable`). */
  isUnavailable(err: unknown): boolean;
  /** Resolves when every backing service answers; rejects otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
