import type { RedisKeys } from '../keys.js';
import type { RoomChannels } from '../../realtime/ports.js';
import type { RedisClient } from './client.js';

/** What a hold needs of the room-server registry (room-servers.ts). */
export interface RoomEntry {
  /** Whether `room` is one whose servers are registered (a chat room). */
  registers(room: string): boolean;
  enter(room: string): Promise<void>;
}

/**
 * Holds a room's sharded channel with a listener of its own: once its
 * SSUBSCRIBE is confirmed (or at once, when the channel is subscribed
 * already), the adapter's own subscription on the join just adds a listener,
 * and the release drops only this one. The channel name is the adapter's
 * (`<prefix>#<namespace>#<room>#`, see @socket.io/redis-adapter's sharded adapter).
 * With `servers`, a chat room's hold also enters this process as one of the room's
 * servers (after subscribing, before answering): from then on every post to the
 * room is published to it (room-servers.ts). `holding(room)` tells whether a hold
 * of the room is asked for and not yet released.
 */
export function createRedisRoomChannels(subscriber: RedisClient, keys: RedisKeys, servers?: RoomEntry): RoomChannels & { holding(room: string): boolean } {
  const holds = new Map<string, number>();
  const drop = (room: string) => {
    const n = (holds.get(room) ?? 1) - 1;
    if (n > 0) holds.set(room, n);
    else holds.delete(room);
  };
  return {
    async hold(room) {
      const channel = `${keys.adapterChannel}#/#${room}#`;
      const holder = () => undefined;
      holds.set(room, (holds.get(room) ?? 0) + 1);
      const release = () => {
        drop(room);
        void subscriber.sUnsubscribe(channel, holder).catch(() => undefined);
      };
      try {
        await subscriber.sSubscribe(channel, holder);
        if (servers?.registers(room)) await servers.enter(room);
      } catch (err) {
        release();
        throw err;
      }
      let released = false;
      return () => {
        if (released) return;
        released = true;
        release();
      };
    },
    holding: (room) => holds.has(room),
  };
}
