/**
 * The ports of the chat: what the domain needs from storage, written here in
 * the domain's terms and implemented by src/store (memory and Redis). The domain
 * imports nothing from the stores; a store answers outcomes (`'missing'`,
 * `'full'`, `null`), and the domain decides what they mean to a user (errors.ts).
 */
import type { Message, Reactions, Room, User } from './types.js';

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

/** A conversation is a room (`room:<id>`) or a direct-message pair (`dm:<a>:<b>`). */
export type ConversationId = string;

/** A stored room message, and whether another process may serve its room (see ChatStore.postToRoom). */
export interface Posted {
  message: Message;
  servedElsewhere: boolean;
}

/** Why a reaction toggle changed nothing: no such message, or no room for another distinct emoji. */
export type ReactionRefusal = 'missing' | 'full';

export interface ChatStore {
  createRoom(room: Room): Promise<boolean>; // false when the id is taken
  getRoom(roomId: string): Promise<Room | null>;
  listRooms(): Promise<Room[]>;
  addMember(roomId: string, username: string): Promise<void>;
  removeMember(roomId: string, username: string): Promise<void>;
  isMember(roomId: string, username: string): Promise<boolean>;

  /**
   * Stores a room message, in one atomic step with the check that the room exists
   * (else `missing`) and that its poster (`message.user.username`) may post there
   * (else `forbidden`): a public room, or a private one they own or belong to (the
   * rule of canAccess in rooms.ts). Otherwise as `append`. It also answers whether
   * another process may serve the room (has sockets in it), as of the same step: when
   * not, a broadcast of the message need not leave this process.
   */
  postToRoom(roomId: string, message: Omit<Message, 'id' | 'ts'>): Promise<Posted | 'missing' | 'forbidden'>;
  /** Stores the message, assigning a time-ordered id and `ts`; trims history to the configured bound. */
  append(conversation: ConversationId, message: Omit<Message, 'id' | 'ts'>): Promise<Message>;
  /** Oldest first. `before` and `after` are exclusive message ids. */
  page(conversation: ConversationId, opts: { before?: string; after?: string; limit: number }): Promise<Message[]>;
  hasMessage(conversation: ConversationId, messageId: string): Promise<boolean>;
  /**
   * Adds or removes `username`'s `emoji` on a message, in one atomic step, and answers the
   * message's whole map; or `missing` (no such message, or trimmed away) or `full` (the
   * message already has MAX_REACTION_EMOJIS distinct emojis and this is a new one), changing nothing.
   */
  toggleReaction(conversation: ConversationId, messageId: string, emoji: string, username: string): Promise<Reactions | ReactionRefusal>;
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
   * Across processes (Redis) the count is of the slots each process leased, never more
   * than `maxSockets`; spare slots leased by another process may refuse a socket early.
   */
  connect(userId: string, socketId: string, maxSockets?: number): Promise<PresenceConnect>;
  /**
   * `connect`, answered without waiting when nothing needs asking (in memory, always; on
   * Redis, when this process leased a spare slot of the user already): the socket is then
   * recorded exactly as `connect` records it. Undefined otherwise, with nothing recorded:
   * call `connect`.
   */
  connectNow(userId: string, socketId: string, maxSockets?: number): PresenceConnect | undefined;
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

/**
 * What a member's removal does to their live connections (realtime/rooms.ts): every
 * socket of the user, on every process, leaves the room and is told so. Resolves once
 * this process's sockets are out.
 */
export interface RoomEviction {
  evict(roomId: string, userId: string): Promise<void>;
}
