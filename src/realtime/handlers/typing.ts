import { z } from 'zod';
import { roomIdSchema } from '../../chat/schemas.js';
import { defineHandler, requireJoined, requireLive, type EventContext } from '../handler.js';

/** Tells the room's other members; `room` is the room's own channel: only the processes with sockets in it receive it. */
function tell(ctx: EventContext, room: string, roomId: string, typing: boolean) {
  ctx.socket.to(room).emit('typing', { roomId, user: ctx.user, typing });
  return {};
}

/**
 * `typing {roomId, typing}`: tells the room's other members (not stored). Many a second
 * per user, so its common case waits for nothing: a point of the limit this process
 * holds is spent and the event is answered in the same tick as the dispatcher found the
 * session live (nothing can end it in between); only when the lease must be renewed does
 * it wait for the store, and then it checks the session again before telling anyone.
 */
export const typing = defineHandler({
  event: 'typing',
  schema: z.object({ roomId: roomIdSchema, typing: z.boolean() }),
  handle({ roomId, typing }, ctx) {
    const room = requireJoined(ctx, roomId);
    if (ctx.limits.spendNow('typing', ctx.user.id)) return tell(ctx, room, roomId, typing);
    return ctx.limits.consume('typing', ctx.user.id).then(() => {
      requireLive(ctx);
      return tell(ctx, room, roomId, typing);
    });
  },
});
