import type { z } from 'zod';
import { AppError } from '../errors.js';

/** Parses input with a schema; a failure is a 400 `bad_request` naming the first problem. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
  const error = new AppError('bad_request', `${where}${issue?.message ?? 'invalid input'}`);
  if (issue?.path.length) error.field = String(issue.path[0]);
  throw error;
}
