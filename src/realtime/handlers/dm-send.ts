import { z } from 'zod';
import { sendDm } from '../../chat/dms.js';
import { clientMsgIdSchema, textSchema, usernameSchema } from '../../chat/schemas.js';
import { requireUserNamed } from '../../chat/users.js';
import { defineHandler, requireLive } from '../handler.js';
import { socketRooms } from '../rooms.js';

/** `dm:send {to, text, clientMsgId?}`: stores a direct message; both users' sockets get it. */
export const dmSend = defineHandler({
  event: 'dm:send',
  schema: z.object({ to: usernameSchema, text: textSchema, clientMsgId: clientMsgIdSchema.optional() }),
  async handle(input, ctx) {
    const recipient = await requireUserNamed(ctx.findUser.byUsername, input.to);
    if (!ctx.limits.spendNow('send', ctx.user.id)) await ctx.limits.consume('send', ctx.user.id); // after the lookup: a typo in `to` costs no send
    requireLive(ctx);
    const message = await sendDm(ctx.chat, ctx.user, input, async () => recipient);
    // One emit per user room, so each goes on that room's channel (to the processes with its
    // sockets); one emit to both rooms would go to every process. A socket is one user's, so
    // nobody gets it twice; a note to oneself is one room.
    for (const id of new Set([ctx.user.id, recipient.id])) ctx.io.to(socketRooms.user(id)).emit('dm:new', message);
    return { message };
  },
});
