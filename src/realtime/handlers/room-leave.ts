import { z } from 'zod';
import { roomIdSchema } from '../../chat/schemas.js';
import { defineHandler } from '../handler.js';
import { socketRooms } from '../rooms.js';

/** `room:leave {roomId}`: stops the room's broadcasts to this socket (leaving a room one is not in is fine). */
export const roomLeave = defineHandler({
  event: 'room:leave',
  schema: z.object({ roomId: roomIdSchema }),
  async handle({ roomId }, ctx) {
    await ctx.socket.leave(socketRooms.room(roomId));
    return {};
  },
});
