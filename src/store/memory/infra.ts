import { EventEmitter } from 'node:events';
import type { Bus, BusMessage, KeyedLock, RoomChannels, SessionIndex } from '../types.js';

/** One process: a promise chain per key is all the exclusion needed. */
export function createMemoryLock(): KeyedLock {
  const tails = new Map<string, Promise<unknown>>();
  return {
    async withLock(key, fn) {
      const previous = tails.get(key) ?? Promise.resolve();
      const run = previous.then(fn, fn);
      const tail = run.catch(() => undefined);
      tails.set(key, tail);
      try {
        return await run;
      } finally {
        if (tails.get(key) === tail) tails.delete(key);
      }
    },
  };
}

/** Delivered asynchronously, as Redis pub/sub would be, so callers never depend on sync delivery. */
export function createMemoryBus(): Bus {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  return {
    async publish(message: BusMessage) {
      setImmediate(() => emitter.emit('message', message));
    },
    subscribe(listener) {
      emitter.on('message', listener);
    },
    onResync() {
      // One process, no connection to lose: never needed.
    },
    onCutOff() {
      // Never cut off.
    },
  };
}

/** One process: broadcasts never cross a connection, so there is nothing to wait for. */
export function createMemoryRoomChannels(): RoomChannels {
  return { hold: async () => () => undefined };
}

export function createMemorySessionIndex(): SessionIndex {
  const byUser = new Map<string, Set<string>>();
  return {
    async add(userId, sid) {
      let set = byUser.get(userId);
      if (!set) byUser.set(userId, (set = new Set()));
      set.add(sid);
    },
    async remove(userId, sid) {
      const set = byUser.get(userId);
      set?.delete(sid);
      if (set?.size === 0) byUser.delete(userId);
    },
    async list(userId) {
      return [...(byUser.get(userId) ?? [])];
    },
  };
}
