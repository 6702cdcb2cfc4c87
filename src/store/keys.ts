/**
 * Every Redis key and channel name is built here, under one prefix, so that
 * several deployments (or test runs) can share a Redis without meeting.
 * Pub/sub channels are global across Redis databases, hence the prefix there too.
 */
export function redisKeys(prefix: string) {
  return {
    prefix,
    sessionPrefix: `${prefix}sess:`,
    sessionLock: (sid: string) => `${prefix}sesslock:${sid}`,
    userSessions: (userId: string) => `${prefix}usess:${userId}`,
    user: (userId: string) => `${prefix}user:${userId}`,
    usernames: `${prefix}usernames`,
    busChannel: `${prefix}bus`,
    rateLimit: (name: string) => `${prefix}rl:${name}`,
    rooms: `${prefix}rooms`,
    roomMembers: (roomId: string) => `${prefix}room:${roomId}:members`,
    roomStream: (roomId: string) => `${prefix}room:${roomId}:stream`,
    dmStream: (a: string, b: string) => `${prefix}dm:${[a, b].sort().join(':')}:stream`,
    /** Reactions of every message of a conversation: hash messageId → JSON map (one key, so trimming can clean it up). */
    conversationReactions: (conversation: string) => `${prefix}react:${conversation}`,
    /*
     * Presence: every key under the one Redis Cluster hash tag `{presence}`, so that each
     * presence script (which touches a user's keys, a process's set and the online set at once) runs on one slot.
     */
    /** Set of the userIds announced online and not yet announced offline: at least one socket anywhere, or in their grace period. */
    presence: `${prefix}{presence}:online`,
    /** Sorted set processId → last heartbeat (ms, Redis clock). */
    presenceProcesses: `${prefix}{presence}:procs`,
    /** Hash socketId → processId of a user's sockets (only real sockets: the socket cap counts these). */
    presenceUser: (userId: string) => `${prefix}{presence}:user:${userId}`,
    /** A user's grace period after their last socket left: JSON [processId, socketId] of the process that settles it and that socket. */
    presenceGrace: (userId: string) => `${prefix}{presence}:grace:${userId}`,
    /** Set of the JSON entries a process recorded (sockets [userId, socketId], grace periods [userId]), so a dead process can be swept. */
    presenceProcess: (processId: string) => `${prefix}{presence}:proc:${processId}`,
    adapterStream: `${prefix}socket.io`,
    /** Sorted set processId → last refresh (ms) of the processes that announce room interest. */
    interestProcesses: `${prefix}interest:procs`,
    /** Set of the Socket.IO rooms a process has sockets in; expires unless refreshed. */
    interestProcess: (processId: string) => `${prefix}interest:proc:${processId}`,
    /** Pub/sub channel of the ephemeral events relayed to one process. */
    relayChannel: (processId: string) => `${prefix}relay:${processId}`,
  };
}
export type RedisKeys = ReturnType<typeof redisKeys>;
