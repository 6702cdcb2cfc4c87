import { Passport } from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';
import type { Stores } from '../store/types.js';
import { checkCredentials, toPublicUser } from './service.js';
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

/** A Passport instance of our own (no global singleton): local strategy, user id in the session. */
export function createPassport(stores: Pick<Stores, 'users'>) {
  const passport = new Passport();
  passport.use(
    new LocalStrategy({ session: true }, (username, password, done) => {
      checkCredentials(stores, username, password).then(
        (user) => done(null, user ? toPublicUser(user) : false),
        (err: unknown) => done(err),
      );
    }),
  );
  passport.serializeUser<string>((user, done) => done(null, (user as User).id));
  passport.deserializeUser<string>((id, done) => {
    stores.users.findById(id).then(
      (user) => done(null, user ? toPublicUser(user) : false),
      (err: unknown) => done(err),
    );
  });
  return passport;
}
export type AppPassport = ReturnType<typeof createPassport>;
