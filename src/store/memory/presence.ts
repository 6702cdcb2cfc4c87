import type { PresenceConnect, PresenceStore } from '../../chat/ports.js';

/**
 * One-process presence: a user is online while any of their sockets is connected,
 * and through the grace period after the last one left (PresenceStore).
 */
export function createMemoryPresenceStore(): PresenceStore {
  const sockets = new Map<string, Set<string>>(); // userId → socketIds
  const graces = new Map<string, string>(); // userId → the socket whose leaving started their grace period

  function connectNow(userId: string, socketId: string, maxSockets = 0): PresenceConnect {
    const own = sockets.get(userId);
    if (own) {
      if (maxSockets > 0 && own.size >= maxSockets && !own.has(socketId)) return 'full';
      own.add(socketId);
      return 'more';
    }
    sockets.set(userId, new Set([socketId]));
    // Back within the grace period: still online, never announced offline.
    return graces.delete(userId) ? 'more' : 'first';
  }

  return {
    connectNow,
    async connect(userId, socketId, maxSockets) {
      return connectNow(userId, socketId, maxSockets);
    },
    async disconnect(userId, socketId, opts = {}) {
      const own = sockets.get(userId);
      if (!own?.delete(socketId) || own.size > 0) return 'none'; // unknown socket, or not the last
      sockets.delete(userId);
      if (!opts.grace) return 'offline';
      graces.set(userId, socketId);
      return 'grace';
    },
    async settle(userId, socketId) {
      const started = graces.get(userId);
      if (started === undefined || (socketId !== undefined && started !== socketId)) return false;
      return graces.delete(userId);
    },
    async online() {
      return [...sockets.keys(), ...graces.keys()];
    },
  };
}
