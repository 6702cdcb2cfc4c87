import { z } from 'zod';
import { roomIdSchema } from '../../chat/schemas.js';
import { defineHandler, requireJoined, requireLive, type EventContext } from '../handler.js';
import { socketRooms } from '../rooms.js';

/** Tells the room's other members, if the session is still live. */
function tell(ctx: EventContext, roomId: string, typing: boolean) {
  requireLive(ctx);
  // The room's own channel: only the processes with sockets in it receive it.
  ctx.socket.to(socketRooms.room(roomId)).emit('typing', { roomId, user: ctx.user, typing });
  return {};
}

/**
 * `typing {roomId, typing}`: tells the room's other members (not stored). Many a second
 * per user, so its common case waits for nothing: a point of the limit this process
 * holds is spent and the event is answered in the same tick; only when the lease must
 * be renewed does it wait for the store.
 */
export const typing = defineHandler({
  event: 'typing',
  schema: z.object({ roomId: roomIdSchema, typing: z.boolean() }),
  handle({ roomId, typing }, ctx) {
    requireJoined(ctx, roomId);
    if (ctx.limits.spendNow('typing', ctx.user.id)) return tell(ctx, roomId, typing);
    return ctx.limits.consume('typing', ctx.user.id).then(() => tell(ctx, roomId, typing));
  },
});
