import { randomUUID } from 'node:crypto';
import type { RedisKeys } from '../keys.js';
import type { StoredUser, UserStore } from '../types.js';
import type { RedisClient } from './client.js';

function fromHash(h: Record<string, string>): StoredUser | null {
  if (!h.id || !h.username) return null;
  return {
    id: h.id,
    username: h.username,
    displayName: h.displayName ?? h.username,
    passwordHash: h.passwordHash ?? '',
    passwordChangedAt: Number(h.passwordChangedAt ?? 0),
  };
}

function toHash(u: Partial<StoredUser>): Record<string, string> {
  return Object.fromEntries(Object.entries(u).map(([k, v]) => [k, String(v)]));
}

/** Users as hashes; a username→id hash reserves names atomically (HSETNX). */
export function createRedisUserStore(client: RedisClient, keys: RedisKeys): UserStore {
  const findById = async (id: string) => fromHash(await client.hGetAll(keys.user(id)));
  return {
    async create({ username, displayName, passwordHash }) {
      const user: StoredUser = { id: randomUUID(), username, displayName, passwordHash, passwordChangedAt: Date.now() };
      const reserved = await client.hSetNX(keys.usernames, username, user.id);
      if (!reserved) return null;
      await client.hSet(keys.user(user.id), toHash(user));
      return user;
    },
    findById,
    async findByUsername(username) {
      const id = await client.hGet(keys.usernames, username);
      return id ? findById(id) : null;
    },
    async update(id, changes) {
      if (!(await client.exists(keys.user(id)))) return null;
      await client.hSet(keys.user(id), toHash(changes));
      return findById(id);
    },
  };
}
