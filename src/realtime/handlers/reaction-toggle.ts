import { z } from 'zod';
import { toggleReaction } from '../../chat/reactions.js';
import { emojiSchema, messageIdSchema, roomIdSchema } from '../../chat/schemas.js';
import { defineHandler, requireJoined, requireLive } from '../handler.js';

/** `reaction:toggle {roomId, messageId, emoji}`: adds or removes the user's reaction; the room gets the whole map. */
export const reactionToggle = defineHandler({
  event: 'reaction:toggle',
  schema: z.object({ roomId: roomIdSchema, messageId: messageIdSchema, emoji: emojiSchema }),
  async handle(input, ctx) {
    const room = requireJoined(ctx, input.roomId);
    if (!ctx.limits.spendNow('reaction', ctx.user.id)) await ctx.limits.consume('reaction', ctx.user.id);
    requireLive(ctx);
    const reactions = await toggleReaction(ctx.chat, ctx.user, input);
    ctx.io.to(room).emit('reaction', { roomId: input.roomId, messageId: input.messageId, reactions });
    return { reactions };
  },
});
