import type { RoomEviction } from '../chat/ports.js';
import type { AppServer } from './events.js';

/** Socket.IO room names, built in one place. */
export const socketRooms = {
  room: (roomId: string) => `room:${roomId}`,
  /** Whether a Socket.IO room name is a chat room's (not a user's or a socket's own). */
  isRoom: (name: string) => name.startsWith('room:'),
  /** The chat room id of a chat room's Socket.IO room name. */
  roomId: (name: string) => name.slice('room:'.length),
  user: (userId: string) => `user:${userId}`,
  /** Whether a Socket.IO room name is a user's own room. */
  isUser: (name: string) => name.startsWith('user:'),
  /** The user id of a user's own room. */
  userId: (name: string) => name.slice('user:'.length),
};

/**
 * Takes a user out of a chat room at once: every socket of theirs, on every process,
 * leaves it (the connection stays up) and is told `room:removed`. Awaited (a cluster
 * adapter publishes first), so that by the time it resolves this process's sockets are
 * out: no more room traffic reaches them, nor typing from them.
 */
export function roomEviction(io: AppServer): RoomEviction {
  return {
    async evict(roomId, userId) {
      const theirs = socketRooms.user(userId);
      await io.of('/').adapter.delSockets({ rooms: new Set([theirs]), except: new Set() }, [socketRooms.room(roomId)]);
      io.to(theirs).emit('room:removed', { roomId });
    },
  };
}
