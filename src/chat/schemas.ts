import { z } from 'zod';
import { MESSAGE_ID_PATTERN } from './message-ids.js';
import { nameSchema } from './names.js';
import { MAX_PAGE_SIZE } from './policy.js';

/*
 * One schema per client event of PROTOCOL.md, plus the HTTP bodies of the
 * room API. Every object uses zod's default `strip`: keys not listed here
 * (`user_id`, `userId`, `user`, `from`, ...) are dropped on parsing, so an
 * identity claimed in a payload can never reach the domain. Who acts is an
 * argument the transport takes from the session.
 */

export const MAX_TEXT = 2000;
/**
 * Raw length cap, before trimming: text is stored verbatim, so without it a
 * short message padded with megabytes of spaces would pass the 2000 check.
 */
export const MAX_RAW_TEXT = 2 * MAX_TEXT;

/** Code points, not UTF-16 units, so an emoji counts as one character. */
const charCount = (s: string) => [...s].length;

/**
 * No lone surrogates. Such a string has no UTF-8 form: Redis would store U+FFFD
 * instead, so it could not be stored and delivered verbatim (the ack and the
 * history would differ, and so would the two backends).
 */
const wellFormed = (s: string) => !/\p{Surrogate}/u.test(s);

export const roomIdSchema = z.string().regex(/^[a-z0-9-]{1,32}$/, 'room ids are 1-32 of a-z, 0-9 and -');
export const usernameSchema = z.string().regex(/^[a-z0-9_]{3,32}$/, 'usernames are 3-32 of a-z, 0-9 and _');
export const messageIdSchema = z.string().regex(MESSAGE_ID_PATTERN, 'not a message id');
export const limitSchema = z.number().int().min(1).max(MAX_PAGE_SIZE);
export const clientMsgIdSchema = z.string().min(1).max(64).refine(wellFormed, 'clientMsgId is not valid Unicode');

/** Validated on its trimmed length, kept verbatim (leading spaces may be deliberate, e.g. code). */
export const textSchema = z
  .string()
  .refine((s) => charCount(s) <= MAX_RAW_TEXT, `text is at most ${MAX_TEXT} characters`)
  .refine(wellFormed, 'text is not valid Unicode')
  .refine((s) => s.trim().length > 0, 'text is empty')
  .refine((s) => charCount(s.trim()) <= MAX_TEXT, `text is at most ${MAX_TEXT} characters`);

/** A short token: one emoji or a `:shortcode:`; no whitespace, control characters or lone surrogates. */
export const emojiSchema = z.string().regex(/^[^\s\p{Cc}\p{Cs}]{1,16}$/u, 'not an emoji');

// ---- Socket.IO client events -------------------------------------------------

export const roomJoinSchema = z.object({ roomId: roomIdSchema, since: messageIdSchema.optional() });
export const roomLeaveSchema = z.object({ roomId: roomIdSchema });
export const messageSendSchema = z.object({ roomId: roomIdSchema, text: textSchema, clientMsgId: clientMsgIdSchema.optional() });
export const messageHistorySchema = z.object({
  roomId: roomIdSchema,
  before: messageIdSchema.optional(),
  after: messageIdSchema.optional(),
  limit: limitSchema.optional(),
});
export const typingSchema = z.object({ roomId: roomIdSchema, typing: z.boolean() });
export const reactionToggleSchema = z.object({ roomId: roomIdSchema, messageId: messageIdSchema, emoji: emojiSchema });
export const dmSendSchema = z.object({ to: usernameSchema, text: textSchema, clientMsgId: clientMsgIdSchema.optional() });
export const dmHistorySchema = z.object({ with: usernameSchema, before: messageIdSchema.optional(), limit: limitSchema.optional() });
/** Takes no fields; a missing payload is as good as `{}` (an `undefined` argument arrives as JSON `null`). */
export const presenceListSchema = z.object({}).nullish().transform((v) => v ?? {});

/** Event name → payload schema, so handlers can be built from one table. */
export const clientEventSchemas = {
  'room:join': roomJoinSchema,
  'room:leave': roomLeaveSchema,
  'message:send': messageSendSchema,
  'message:history': messageHistorySchema,
  typing: typingSchema,
  'reaction:toggle': reactionToggleSchema,
  'dm:send': dmSendSchema,
  'dm:history': dmHistorySchema,
  'presence:list': presenceListSchema,
} as const;

export type ClientEventName = keyof typeof clientEventSchemas;
export type ClientEventPayload<E extends ClientEventName> = z.output<(typeof clientEventSchemas)[E]>;

// ---- HTTP API ------------------------------------------------------------------

/** `POST /api/rooms`. The name defaults to the id in the domain; a given one follows the name rule (names.ts). */
export const createRoomBodySchema = z.object({
  id: roomIdSchema,
  name: nameSchema('room name').optional(),
  private: z.boolean().optional(),
});

/** `POST /api/rooms/:id/members`. */
export const addMemberBodySchema = z.object({ username: usernameSchema });

/** `:id` of `/api/rooms/:id/...`. */
export const roomParamsSchema = z.object({ id: roomIdSchema });

/** `DELETE /api/rooms/:id/members/:username`. */
export const memberParamsSchema = z.object({ id: roomIdSchema, username: usernameSchema });

/** `GET /api/rooms/:id/messages?before=&after=&limit=`: query values arrive as strings. */
export const historyQuerySchema = z.object({
  before: messageIdSchema.optional(),
  after: messageIdSchema.optional(),
  limit: z
    .string()
    .regex(/^\d{1,3}$/, 'limit is a number from 1 to 100')
    .transform(Number)
    .pipe(limitSchema)
    .optional(),
});

export type CreateRoomBody = z.output<typeof createRoomBodySchema>;
export type HistoryQuery = z.output<typeof historyQuerySchema>;
