import type { Request, Response } from 'express';
import { isAppError } from '../errors.js';

/** What a server-rendered form shows: the values typed (never a password), errors by field, or one for the form. */
export type FormState = { values: Record<string, string>; errors: Record<string, string>; error?: string };

export const emptyForm = (values: Record<string, string> = {}): FormState => ({ values, errors: {} });

/** Form values to show again (never the password). */
function keepValues(body: unknown, fields: string[]): Record<string, string> {
  const b = (body ?? {}) as Record<string, unknown>;
  return Object.fromEntries(fields.map((f) => [f, typeof b[f] === 'string' ? (b[f] as string) : '']));
}

/** An expected failure (bad input, wrong password, limit) as form state; anything else is rethrown. */
export function formFailure(err: unknown, body: unknown, fields: string[]): { status: number; form: FormState } {
  if (!isAppError(err) || err.status >= 500) throw err;
  const form: FormState = { values: keepValues(body, fields), errors: {} };
  if (err.field) form.errors[err.field] = err.message.replace(/^[^:]+: /, '');
  else form.error = err.message;
  return { status: err.status, form };
}

/** Renders a page view with what every page needs (the user, the theme of this device, the CSRF token). */
export type PageRenderer = (req: Request, res: Response, view: string, locals: Record<string, unknown>) => void;
