/**
 * Every Redis key and channel name of the chat is built here, under one prefix, so
 * that several deployments (or test runs) can share a Redis without meeting.
 * Pub/sub channels are global across Redis databases, hence the prefix there too.
 * The live session (socket.io-live-session's redisBus) keeps its own keys under the
 * same prefix: `sesslock:<sid>`, `usess:<user>` and the channel `bus`.
 *
 * On a Redis Cluster the keys one script or transaction touches must live in
 * one hash slot, so they share a hash tag (the part in `{}`): everything of a
 * conversation under `{room:<id>}` or `{dm:<a>:<b>}`, all of presence under
 * `{presence}`. Keys that are only ever touched alone carry no tag.
 */
export function redisKeys(prefix: string) {
  /** Everything of one conversation (`room:<id>` or `dm:<a>:<b>`) shares its slot. */
  const conversation = (id: string) => `${prefix}{${id}}`;
  return {
    prefix,
    sessionPrefix: `${prefix}sess:`,
    user: (userId: string) => `${prefix}user:${userId}`,
    usernames: `${prefix}usernames`,
    rateLimit: (name: string) => `${prefix}rl:${name}`,
    /** Set of every room id (listing); each room's record is its own key. */
    roomIndex: `${prefix}rooms`,
    room: (roomId: string) => `${conversation(`room:${roomId}`)}:room`,
    roomMembers: (roomId: string) => `${conversation(`room:${roomId}`)}:members`,
    /** Hash processId → lease deadline (ms, Redis clock) of the processes serving the room (redis/room-servers.ts). */
    roomServers: (roomId: string) => `${conversation(`room:${roomId}`)}:servers`,
    /** Stream of a conversation's messages; the entry id is the message id. */
    stream: (conversationId: string) => `${conversation(conversationId)}:stream`,
    /** Reactions of every message of a conversation: hash messageId → JSON map (one key, so trimming can clean it up). */
    reactions: (conversationId: string) => `${conversation(conversationId)}:react`,
    /*
     * Presence: every key under the one hash tag `{presence}`, so that each presence
     * script (which touches a user's keys, a process's set and the online set at once) runs on one slot.
     */
    /** Set of the userIds announced online and not yet announced offline: at least one socket anywhere, or in their grace period. */
    presence: `${prefix}{presence}:online`,
    /** Sorted set processId → last heartbeat (ms, Redis clock). */
    presenceProcesses: `${prefix}{presence}:procs`,
    /** Hash socketId → processId of a user's sockets (only real sockets: the socket cap counts these). */
    presenceUser: (userId: string) => `${prefix}{presence}:user:${userId}`,
    /** A user's grace period after their last socket left: JSON [processId, socketId] of the process that settles it and that socket. */
    presenceGrace: (userId: string) => `${prefix}{presence}:grace:${userId}`,
    /** Set of the processIds that register the rooms they serve (store/redis/room-servers.ts); one of an older release does not. */
    presenceRegistering: `${prefix}{presence}:registering`,
    /** Set of the JSON entries a process recorded (sockets [userId, socketId], grace periods [userId]), so a dead process can be swept. */
    presenceProcess: (processId: string) => `${prefix}{presence}:proc:${processId}`,
    /** Prefix of the Socket.IO adapter's sharded channels (one per room with sockets). */
    adapterChannel: `${prefix}socket.io`,
    /** The version of this key layout, for the migration on start. */
    layout: `${prefix}layout`,
  };
}
export type RedisKeys = ReturnType<typeof redisKeys>;
