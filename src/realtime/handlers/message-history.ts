import { z } from 'zod';
import { history } from '../../chat/messages.js';
import { limitSchema, messageIdSchema, roomIdSchema } from '../../chat/schemas.js';
import { defineHandler } from '../handler.js';

/** `message:history {roomId, before?, after?, limit?}`: a page of the room's history, oldest first. */
export const messageHistory = defineHandler({
  event: 'message:history',
  schema: z.object({
    roomId: roomIdSchema,
    before: messageIdSchema.optional(),
    after: messageIdSchema.optional(),
    limit: limitSchema.optional(),
  }),
  async handle({ roomId, ...page }, ctx) {
    return history(ctx.chat, ctx.user, roomId, page);
  },
});
