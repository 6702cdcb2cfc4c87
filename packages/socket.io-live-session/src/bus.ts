import { EventEmitter } from 'node:events';
import type { BusMessage, KeyedLock, LiveBus, SessionIndex } from './types.js';

/** One process: a promise chain per key is all the exclusion needed. */
export function memoryLock(): KeyedLock {
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

export function memoryIndex(): SessionIndex {
  /** userKey → (sid → when the user's entry may be forgotten). */
  const byUser = new Map<string, { sids: Set<string>; until: number }>();
  const live = (userKey: string) => {
    const entry = byUser.get(userKey);
    if (entry && entry.until <= Date.now()) byUser.delete(userKey);
    return byUser.get(userKey);
  };
  return {
    async add(userKey, sid, ttlMs) {
      const entry = live(userKey) ?? { sids: new Set<string>(), until: 0 };
      entry.sids.add(sid);
      entry.until = Date.now() + ttlMs;
      byUser.set(userKey, entry);
    },
    async remove(userKey, sid) {
      const entry = byUser.get(userKey);
      entry?.sids.delete(sid);
      if (entry?.sids.size === 0) byUser.delete(userKey);
    },
    async list(userKey) {
      return [...(live(userKey)?.sids ?? [])];
    },
  };
}

/**
 * The bus of one process (the default). Messages are delivered asynchronously,
 * as Redis would deliver them, so nothing comes to depend on synchronous delivery.
 */
export function memoryBus(): LiveBus {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  return {
    async publish(message) {
      setImmediate(() => emitter.emit('message', message));
    },
    subscribe(listener: (message: BusMessage) => void) {
      emitter.on('message', listener);
      return () => void emitter.off('message', listener);
    },
    onCutOff() {
      // One process: never cut off.
    },
    onResync() {
      // Never needed.
    },
    lock: memoryLock(),
    index: memoryIndex(),
  };
}
