import type { PresenceStore } from '../types.js';

/** One-process presence: a user is online while any of their sockets is connected. */
export function createMemoryPresenceStore(): PresenceStore {
  const sockets = new Map<string, Set<string>>(); // userId → socketIds

  return {
    async connect(userId, socketId) {
      const own = sockets.get(userId);
      if (own) {
        own.add(socketId);
        return false;
      }
      sockets.set(userId, new Set([socketId]));
      return true;
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
