import type { Request } from 'express';
import { Passport } from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';
import { credentialsCurrent } from '../session/types.js';
import type { UserStore } from '../chat/ports.js';
import { publicUser } from '../chat/users.js';
import { checkCredentials, toVerifiedUser } from './service.js';
import type { User } from '../chat/types.js';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    /** req.user is the public user. */
    // eslint-disable-next-line @typescript-eslint/no-empty-object-type
    interface User extends PublicUser {}
  }
}
type PublicUser = User;

/**
 * A Passport instance of our own (no global singleton): local strategy, user id
 * in the session. A session is logged in only while the user exists and its
 * credential version is the user's current one (a password change ends it).
 */
export function createPassport(stores: { users: UserStore }) {
  const passport = new Passport();
  passport.use(
    new LocalStrategy({ session: true }, (username, password, done) => {
      checkCredentials(stores, username, password).then(
        (user) => done(null, user ? toVerifiedUser(user) : false),
        (err: unknown) => done(err),
      );
    }),
  );
  passport.serializeUser<string>((user, done) => done(null, (user as User).id));
  passport.deserializeUser<string, Request>((req, id, done) => {
    stores.users.findById(id).then(
      (user) => done(null, user && credentialsCurrent(req.session, user) ? publicUser(user) : false),
      (err: unknown) => done(err),
    );
  });
  return passport;
}
export type AppPassport = ReturnType<typeof createPassport>;
