import type { RoomChannels } from '../../realtime/ports.js';

/** One process: broadcasts never cross a connection, so there is nothing to wait for. */
export function createMemoryRoomChannels(): RoomChannels {
  return { hold: async () => () => undefined };
}
