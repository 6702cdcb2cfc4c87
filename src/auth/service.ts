import { AppError } from '../errors.js';
import type { User } from '../chat/types.js';
import type { LiveBus } from 'socket.io-live-session';
import type { StoredUser, UserStore } from '../chat/ports.js';
import { publicUser } from '../chat/users.js';
import type { UserChanged } from '../session/types.js';
import { dummyPasswordHash, hashPassword, verifyPassword } from './passwords.js';


/** A user whose password was just verified, with the credential version it was verified against. */
export type VerifiedUser = User & { credentialVersion: number };
export const toVerifiedUser = (u: StoredUser): VerifiedUser => ({ ...publicUser(u), credentialVersion: u.credentialVersion });

export async function registerUser(
  stores: { users: UserStore },
  input: { username: string; password: string; displayName?: string | undefined },
): Promise<StoredUser> {
  if (await stores.users.findByUsername(input.username)) throw new AppError('username_taken', 'that username is taken');
  const created = await stores.users.create({
    username: input.username,
    displayName: input.displayName ?? input.username,
    passwordHash: await hashPassword(input.password),
  });
  if (!created) throw new AppError('username_taken', 'that username is taken');
  return created;
}

/** The user when the password matches; null otherwise, in about the same time either way. */
export async function checkCredentials(stores: { users: UserStore }, username: string, password: string) {
  const user = await stores.users.findByUsername(username);
  const ok = await verifyPassword(user?.passwordHash ?? (await dummyPasswordHash()), password);
  return user && ok ? user : null;
}

/** What identity needs of the stores: the users, and the bus to tell every process a user changed. */
export interface IdentityStores {
  users: UserStore;
  bus: Pick<LiveBus, 'publish'>;
}

/**
 * Sets a user's display name and tells every process, whose sockets of the user
 * then get the new name in their `session` event. Null when the user is gone.
 */
export async function renameUser(stores: IdentityStores, userId: string, displayName: string): Promise<User | null> {
  const updated = await stores.users.update(userId, { displayName });
  if (!updated) return null;
  const changed: UserChanged = { t: 'user', uid: updated.id };
  await stores.bus.publish(changed);
  return publicUser(updated);
}
