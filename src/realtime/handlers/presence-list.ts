import { z } from 'zod';
import { listOnline } from '../../chat/presence.js';
import { defineHandler } from '../handler.js';

/** `presence:list`: who is online. Takes no fields; a missing payload is as good as `{}` (an `undefined` argument arrives as JSON `null`). */
export const presenceList = defineHandler({
  event: 'presence:list',
  schema: z
    .object({})
    .nullish()
    .transform((v) => v ?? {}),
  async handle(_input, ctx) {
    return { online: await listOnline(ctx.presence, ctx.findUser.byId) };
  },
});
