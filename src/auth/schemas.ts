import { z } from 'zod';
import { nameSchema } from '../chat/names.js';
import { usernameSchema as username } from '../chat/schemas.js';

export const password = z
  .string()
  .min(8, 'password must be 8-200 characters')
  .max(200, 'password must be 8-200 characters');

/** Trimmed, NFC, 1-64 characters, nothing that hides or reorders text: the one name rule (chat/names.ts). */
export const displayName = nameSchema('display name');

/** An empty or blank display name (a form's untouched optional field) means "not given". */
const optionalDisplayName = z.preprocess((v) => (typeof v === 'string' && v.trim() === '' ? undefined : v), displayName.optional());

export const registerBody = z.object({ username, password, displayName: optionalDisplayName });
export const loginBody = z.object({ username, password });
export const meBody = z.object({ displayName });
export const prefsBody = z.object({ theme: z.enum(['light', 'dark', 'system']) });
export const passwordBody = z.object({ currentPassword: password, newPassword: password });
