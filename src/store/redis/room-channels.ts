import type { RedisKeys } from '../keys.js';
import type { RoomChannels } from '../../realtime/ports.js';
import type { RedisClient } from './client.js';

/**
 * Holds a room's sharded channel with a listener of its own: once its
 * SSUBSCRIBE is confirmed (or at once, when the channel is subscribed
 * already), the adapter's own subscription on the join just adds a listener,
 * and the release drops only this one. The channel name is the adapter's
 * (`<prefix>#<namespace>#<room>#`, see @socket.io/redis-adapter's sharded adapter).
 */
export function createRedisRoomChannels(subscriber: RedisClient, keys: RedisKeys): RoomChannels {
  return {
    async hold(room) {
      const channel = `${keys.adapterChannel}#/#${room}#`;
      const holder = () => undefined;
      await subscriber.sSubscribe(channel, holder);
      return () => void subscriber.sUnsubscribe(channel, holder).catch(() => undefined);
    },
  };
}
