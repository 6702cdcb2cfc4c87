import { AppError } from '../errors.js';
import type { User } from '../chat/types.js';
import type { Stores, StoredUser } from '../store/types.js';
import { dummyPasswordHash, hashPassword, verifyPassword } from './passwords.js';

export const toPublicUser = (u: StoredUser | User): User => ({ id: u.id, username: u.username, displayName: u.displayName });

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

const FAILED_LOGINS = { points: 10, durationSeconds: 15 * 60 };

/** Failed logins per username, shared by every process (Redis) — 10 per 15 minutes. */
export function createLoginLimiter(stores: Pick<Stores, 'limiter'>) {
  const limiter = stores.limiter({ name: 'login', ...FAILED_LOGINS });
  return {
    async assertAllowed(username: string) {
      const state = await limiter.get(username);
      if (state && state.consumedPoints >= FAILED_LOGINS.points) {
        throw new AppError('rate_limited', 'too many failed logins; try again later', Math.ceil(state.msBeforeNext / 1000));
      }
    },
    async failed(username: string) {
      await limiter.penalty(username, 1);
    },
    async succeeded(username: string) {
      await limiter.delete(username);
    },
  };
}
export type LoginLimiter = ReturnType<typeof createLoginLimiter>;
