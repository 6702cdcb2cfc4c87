import { z } from 'zod';
import { MESSAGE_ID_PATTERN } from './message-ids.js';
import { nameSchema } from './names.js';
import { MAX_PAGE_SIZE } from './policy.js';

/*
 * The building blocks of every payload schema (each client event's own is in
 * src/realtime/handlers/), and the HTTP bodies of the room API. Every object uses zod's default `strip`: keys not listed here
 * (`user_id`, `userId`, `user`, `from`, ...) are dropped on parsing, so an
 * identity claimed in a payload can never reach the domain. Who acts is an
 * argument the transport takes from the session.
 */

export const MAX_TEXT = 2000;
/**
 * Raw length cap, before trimming: text is stored verbatim, so without it a
 * short message padded with megabytes of spaces would pass the 2000 check.
 */
const MAX_RAW_TEXT = 2 * MAX_TEXT;

/** Code points, not UTF-16 units, so an emoji counts as one character. */
const charCount = (s: string) => [...s].length;

/**
 * No lone surrogates. Such a string has no UTF-8 form: Redis would store U+FFFD
 * instead, so it could not be stored and delivered verbatim (the ack and the
 * history would differ, and so would the two backends).
 */
const wellFormed = (s: string) => !/\p{Surrogate}/u.test(s);

export const roomIdSchema = z.string().regex(/^[a-z0-9-]{1,32}$/, 'room ids are 1-32 of a-z, 0-9 and -');
/** The one username rule: registration, sign-in, DMs and room members all use it. */
export const usernameSchema = z
  .string()
  .min(3, 'username must be 3-32 characters')
  .max(32, 'username must be 3-32 characters')
  .regex(/^[a-z0-9_]+$/, 'username may use only a-z, 0-9 and _');
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

// Each client event's payload schema lives with its handler (src/realtime/handlers/), built from these.

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
