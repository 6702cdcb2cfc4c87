import type { Store as SessionBaseStore } from 'express-session';
import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Namespace } from 'socket.io';
import type { Adapter } from 'socket.io-adapter';
import type { LiveBus } from 'socket.io-live-session';
import type { Message, Reactions, Room, User } from '../chat/types.js';

/** A user as stored: the public fields plus what only the server sees. */
export interface StoredUser extends User {
  passwordHash: string;
  /**
   * Incremented by every password change. A session remembers the version it
   * logged in with, and a session with an older one is not logged in.
   */
  credentialVersion: number;
}

export interface UserStore {
  /** Creates the user, or returns null when the username is taken. */
  create(input: { username: string; displayName: string; passwordHash: string }): Promise<StoredUser | null>;
  findById(id: string): Promise<StoredUser | null>;
  findByUsername(username: string): Promise<StoredUser | null>;
  update(id: string, changes: Partial<Pick<StoredUser, 'displayName'>>): Promise<StoredUser | null>;
  /**
   * Sets a new password hash and increments the credential version, in one step
   * and only if the version is still `expectedVersion` (the one whose password
   * the caller verified). Resolves to the new version, or null when the user is
   * gone or the version moved on (another change won).
   */
  changePassword(id: string, expectedVersion: number, passwordHash: string): Promise<number | null>;
}

/**
 * Connection health, for what subscribes: `cut-off` when a connection (any node of
 * a cluster) fails, so pub/sub messages may be missed from then on; `restored` once
 * every connection is ready again, its subscriptions in place (after a failover:
 * on the new topology). Emitted once per outage.
 */
export interface ConnectionHealth {
  on(event: 'cut-off' | 'restored', listener: () => void): this;
}

/** The chat's own message on the session bus: a user's record changed (display name, password). */
export interface UserChanged {
  t: 'user';
  uid: string;
  [field: string]: unknown;
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

/** A conversation is a room (`room:<id>`) or a direct-message pair (`dm:<a>:<b>`). */
export type ConversationId = string;

export interface ChatStore {
  createRoom(room: Room): Promise<boolean>; // false when the id is taken
  getRoom(roomId: string): Promise<Room | null>;
  listRooms(): Promise<Room[]>;
  addMember(roomId: string, username: string): Promise<void>;
  removeMember(roomId: string, username: string): Promise<void>;
  isMember(roomId: string, username: string): Promise<boolean>;

  /** Stores the message, assigning a time-ordered id and `ts`; trims history to the configured bound. */
  append(conversation: ConversationId, message: Omit<Message, 'id' | 'ts'>): Promise<Message>;
  /** Oldest first. `before` and `after` are exclusive message ids. */
  page(conversation: ConversationId, opts: { before?: string; after?: string; limit: number }): Promise<Message[]>;
  hasMessage(conversation: ConversationId, messageId: string): Promise<boolean>;
  toggleReaction(conversation: ConversationId, messageId: string, emoji: string, username: string): Promise<Reactions>;
}

/**
 * What recording a socket answered: the user's first socket anywhere (they were offline:
 * announce them online), another one (nothing to announce; this also covers a user back
 * within their grace period, whose grace it ends), or one too many (not recorded).
 */
export type PresenceConnect = 'first' | 'more' | 'full';

/**
 * What forgetting a socket answered: `none` (the user has other sockets, or the socket
 * was unknown: nothing changed for anyone else), `grace` (it was the user's last socket
 * anywhere: they stay online, in their grace period, until `settle`), `offline` (it was
 * the last one and no grace was asked for: the user is offline now).
 */
export type PresenceDisconnect = 'none' | 'grace' | 'offline';

/**
 * Who is online, across every process. A user is online from their first socket until
 * the grace period after their last socket ends without any socket of theirs coming
 * back (on any process): a reload or a reconnect after a deploy changes nothing.
 * Online and offline are answered on the transitions of one atomic record, so for a
 * user they alternate exactly, however processes race: `first`, then at most one
 * `offline` (from `disconnect` or `settle`), then `first` again, and so on.
 */
export interface PresenceStore {
  /**
   * Records a socket, unless the user already has `maxSockets` sockets
   * (across every process; a grace period is no socket): counting and recording are one atomic step.
   */
  connect(userId: string, socketId: string, maxSockets?: number): Promise<PresenceConnect>;
  /**
   * Forgets a socket. With `grace`, the user's last socket starts their grace period,
   * which the caller must end with `settle(userId, socketId)` when it is over.
   */
  disconnect(userId: string, socketId: string, opts?: { grace?: boolean }): Promise<PresenceDisconnect>;
  /**
   * Ends the grace period that the disconnect of `socketId` started (without `socketId`:
   * whichever grace period of the user this process started): true when the user
   * thereby went offline; false (changing nothing) when a socket of theirs came back
   * meanwhile, or that grace period was already settled.
   */
  settle(userId: string, socketId?: string): Promise<boolean>;
  /** Users online, those in their grace period included (they have not been announced offline). */
  online(): Promise<string[]>;
}

export interface LimiterOptions {
  name: string;
  points: number;
  durationSeconds: number;
}

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
  roomChannels: RoomChannels;
  limiter(options: LimiterOptions): RateLimiterAbstract;
  /** Socket.IO adapter factory for several processes (undefined: the in-memory default). */
  socketAdapter?: (nsp: Namespace) => Adapter;
  /** Resolves when every backing service answers; rejects otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
