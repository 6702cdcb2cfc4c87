import { randomUUID } from 'node:crypto';
import type { RedisKeys } from '../keys.js';
import type { StoredUser, UserStore } from '../../chat/ports.js';
import type { RedisClient } from './client.js';
import { luaScript, runLua } from './lua.js';

/**
 * Compare-and-set of the credential version with the new hash, in one step.
 * KEYS: user. ARGV: expectedVersion, passwordHash. Returns the new version, or -1.
 * (It also drops `passwordChangedAt`, which older versions wrote and nothing reads.)
 */
const CHANGE_PASSWORD = luaScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local version = tonumber(redis.call('HGET', KEYS[1], 'credentialVersion') or '0')
if version ~= tonumber(ARGV[1]) then return -1 end
redis.call('HSET', KEYS[1], 'passwordHash', ARGV[2], 'credentialVersion', version + 1)
redis.call('HDEL', KEYS[1], 'passwordChangedAt')
return version + 1
`);

function fromHash(h: Record<string, string>): StoredUser | null {
  if (!h.id || !h.username) return null;
  return {
    id: h.id,
    username: h.username,
    displayName: h.displayName ?? h.username,
    passwordHash: h.passwordHash ?? '',
    credentialVersion: Number(h.credentialVersion ?? 0),
  };
}

function toHash(u: Partial<StoredUser>): Record<string, string> {
  return Object.fromEntries(Object.entries(u).map(([k, v]) => [k, String(v)]));
}

/** Users as hashes; a username→id hash reserves names atomically (HSETNX), each pointing at a record written before it. */
export function createRedisUserStore(client: RedisClient, keys: RedisKeys): UserStore {
  const findById = async (id: string) => fromHash(await client.hGetAll(keys.user(id)));
  return {
    /*
     * The record first, then the name: a name is never reserved without its user,
     * whatever fails or crashes in between. (One script cannot do both on a Redis
     * Cluster, where the names hash and each user's record are on different slots;
     * one hash tag for every user would put them all on one node.) The record of a
     * create that loses the name, or that dies between the two writes, is unreachable:
     * its id is random and was never handed out. It is deleted when it can be.
     */
    async create({ username, displayName, passwordHash }) {
      const user: StoredUser = { id: randomUUID(), username, displayName, passwordHash, credentialVersion: 0 };
      await client.hSet(keys.user(user.id), toHash(user));
      let reserved: number | boolean;
      try {
        reserved = await client.hSetNX(keys.usernames, username, user.id);
      } catch (err) {
        await client.del(keys.user(user.id)).catch(() => undefined);
        throw err;
      }
      if (!reserved) {
        await client.del(keys.user(user.id));
        return null;
      }
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
    async changePassword(id, expectedVersion, passwordHash) {
      const version = (await runLua(client, CHANGE_PASSWORD, [keys.user(id)], [String(expectedVersion), passwordHash])) as number;
      return version < 0 ? null : version;
    },
  };
}
