import { AppError } from '../errors.js';
import type { User } from '../chat/types.js';
import type { Stores, StoredUser } from '../store/types.js';
import { dummyPasswordHash, hashPassword, verifyPassword } from './passwords.js';

export const toPublicUser = (u: StoredUser | User): User => ({ id: u.id, username: u.username, displayName: u.displayName });

/** A user whose password was just verified, with the credential version it was verified against. */
export type VerifiedUser = User & { credentialVersion: number };
export const toVerifiedUser = (u: StoredUser): VerifiedUser => ({ ...toPublicUser(u), credentialVersion: u.credentialVersion });

export async function registerUser(
  stores: Pick<Stores, 'users'>,
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
export async function checkCredentials(stores: Pick<Stores, 'users'>, username: string, password: string) {
  const user = await stores.users.findByUsername(username);
  const ok = await verifyPassword(user?.passwordHash ?? (await dummyPasswordHash()), password);
  return user && ok ? user : null;
}
