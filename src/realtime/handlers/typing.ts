import { z } from 'zod';
import { roomIdSchema } from '../../chat/schemas.js';
import { defineHandler, requireJoined, requireLive } from '../handler.js';
import { socketRooms } from '../rooms.js';

/** `typing {roomId, typing}`: tells the room's other members (not stored). */
export const typing = defineHandler({
  event: 'typing',
  schema: z.object({ roomId: roomIdSchema, typing: z.boolean() }),
  async handle({ roomId, typing }, ctx) {
    requireJoined(ctx, roomId);
    await ctx.limits.consume('typing', ctx.user.id);
    requireLive(ctx);
    // The room's own channel: only the processes with sockets in it receive it.
    ctx.socket.to(socketRooms.room(roomId)).emit('typing', { roomId, user: ctx.user, typing });
    return {};
  },
});
