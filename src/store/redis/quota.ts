import type { Grant, QuotaFactory } from '../../security/limits.js';
import type { RedisKeys } from '../keys.js';
import type { RedisClient } from './client.js';
import { luaScript, runLua } from './lua.js';

/**
 * Reserves half of what is left of a fixed window (at least 1 point), or nothing
 * when nothing is; a window starts with the first request. One key, so it runs on
 * any node of a cluster. The counter is the one rate-limiter-flexible keeps (the
 * points counted, expiring with the window), so processes of the previous release
 * count against the same limit during a rolling deploy.
 * KEYS: counter. ARGV: points, window ms. Returns {granted, ms left in the window}.
 */
const TAKE = luaScript(`
local ttl = redis.call('PTTL', KEYS[1])
local used = 0
if ttl == -1 then
  -- a counter without expiry (not ours): counted, in a window from now
  used = tonumber(redis.call('GET', KEYS[1])) or 0
  ttl = tonumber(ARGV[2])
elseif ttl <= 0 then
  -- none, or its window ends within the millisecond (PTTL 0): a new window
  ttl = tonumber(ARGV[2])
else
  used = tonumber(redis.call('GET', KEYS[1])) or 0
end
local left = tonumber(ARGV[1]) - used
if left <= 0 then return {0, ttl} end
local granted = math.ceil(left / 2)
redis.call('SET', KEYS[1], used + granted, 'PX', ttl)
return {granted, ttl}
`);

/** The leased limits' windows in Redis (the key rate-limiter-flexible would use for the same limit). */
export function createRedisQuota(client: RedisClient, keys: RedisKeys): QuotaFactory {
  return ({ name, points, durationSeconds }) => {
    const prefix = `${keys.rateLimit(name)}:`;
    const args = [String(points), String(durationSeconds * 1000)];
    return {
      async take(key): Promise<Grant> {
        const [granted, windowMs] = (await runLua(client, TAKE, [prefix + key], args)) as [number, number];
        return { granted: Number(granted), windowMs: Number(windowMs) };
      },
    };
  };
}
