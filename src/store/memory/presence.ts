import type { PresenceStore } from '../types.js';

/** One-process presence: a user is online while any of their sockets is connected. */
export function createMemoryPresenceStore(): PresenceStore {
  const sockets = new Map<string, Set<string>>(); // userId → socketIds

  return {
    async connect(userId, socketId, maxSockets = 0) {
      const own = sockets.get(userId);
      if (!own) {
        sockets.set(userId, new Set([socketId]));
        return 'first';
      }
      if (maxSockets > 0 && own.size >= maxSockets && !own.has(socketId)) return 'full';
      own.add(socketId);
      return 'more';
    },
    async disconnect(userId, socketId) {
      const own = sockets.get(userId);
      if (!own?.delete(socketId)) return false; // unknown socket: nothing changed
      if (own.size > 0) return false;
      sockets.delete(userId);
      return true;
    },
    async online() {
      return [...sockets.keys()];
    },
  };
}
