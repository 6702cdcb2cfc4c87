import { z } from 'zod';
import { dmHistory as historyWith } from '../../chat/dms.js';
import { limitSchema, messageIdSchema, usernameSchema } from '../../chat/schemas.js';
import { defineHandler } from '../handler.js';

/** `dm:history {with, before?, limit?}`: a page of the conversation with one user, oldest first. */
export const dmHistory = defineHandler({
  event: 'dm:history',
  schema: z.object({ with: usernameSchema, before: messageIdSchema.optional(), limit: limitSchema.optional() }),
  async handle({ with: other, ...page }, ctx) {
    return historyWith(ctx.chat, ctx.user, other, page, ctx.findUser.byUsername);
  },
});
