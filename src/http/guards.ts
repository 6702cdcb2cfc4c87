import type { RequestHandler } from 'express';
import { AppError } from '../errors.js';

/** API guard: 401 `unauthorized` without a logged-in session. */
export const requireUser: RequestHandler = (req, _res, next) =>
  next(req.user ? undefined : new AppError('unauthorized', 'log in first'));

/** Page guard: to the login page without a logged-in session. */
export const requireUserPage: RequestHandler = (req, res, next) => (req.user ? next() : res.redirect(302, '/login'));

export const currentUser = (req: Express.Request) => {
  if (!req.user) throw new AppError('unauthorized', 'log in first');
  return req.user;
};
