import { z } from 'zod';
import { sendMessage } from '../../chat/messages.js';
import { clientMsgIdSchema, roomIdSchema, textSchema } from '../../chat/schemas.js';
import { defineHandler, requireJoined, requireLive } from '../handler.js';

/** `message:send {roomId, text, clientMsgId?}`: stores the message as the session's user and sends it to the room. */
export const messageSend = defineHandler({
  event: 'message:send',
  schema: z.object({ roomId: roomIdSchema, text: textSchema, clientMsgId: clientMsgIdSchema.optional() }),
  async handle(input, ctx) {
    const room = requireJoined(ctx, input.roomId);
    if (!ctx.limits.spendNow('send', ctx.user.id)) await ctx.limits.consume('send', ctx.user.id);
    requireLive(ctx);
    const { message, servedElsewhere } = await sendMessage(ctx.chat, ctx.user, input);
    // Every member's socket, the sender's included ("room members", unlike typing's "other room members"):
    // only this process's when the store found no other process serving the room in the step that stored it.
    (servedElsewhere ? ctx.io : ctx.io.local).to(room).emit('message:new', message);
    return { message };
  },
});
