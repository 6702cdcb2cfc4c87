import { AppError } from '../errors.js';
import type { UserStore } from './ports.js';
import type { User } from './types.js';

/** Looks a user up by username; supplied by the caller so the domain stays store-agnostic. */
export type FindUserByUsername = (username: string) => Promise<User | null>;
export type FindUserById = (id: string) => Promise<User | null>;

/**
 * Only the public fields. The acting user may arrive as a richer record (a
 * StoredUser with its password hash): this keeps anything else out of stored
 * messages and out of what clients receive.
 */
export function publicUser(user: User): User {
  return { id: user.id, username: user.username, displayName: user.displayName };
}

/** The user with that username, or 404 `not_found`. */
export async function requireUserNamed(findUserByUsername: FindUserByUsername, username: string): Promise<User> {
  const user = await findUserByUsername(username);
  if (!user) throw new AppError('not_found', `no user ${username}`);
  return user;
}

/** Users by name or by id, as their public fields (null: no such user). */
export interface PublicUserFinder {
  byUsername: FindUserByUsername;
  byId: FindUserById;
}

export function publicUserFinder(users: UserStore): PublicUserFinder {
  return {
    byUsername: async (username) => {
      const u = await users.findByUsername(username);
      return u && publicUser(u);
    },
    byId: async (id) => {
      const u = await users.findById(id);
      return u && publicUser(u);
    },
  };
}
