import { createHash } from 'node:crypto';
import type { RedisClient } from './client.js';

export interface LuaScript {
  source: string;
  sha: string;
}

/** Lua: `now`, the Redis clock in ms (one clock for every process, whatever their hosts' clocks say). */
export const NOW_MS = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

export function luaScript(source: string): LuaScript {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('NOSCRIPT');
}

/**
 * EVALSHA first so the script body crosses the wire once per Redis (not per
 * call); falls back to EVAL, which also loads it, after a restart or FLUSH.
 */
export async function runLua(client: RedisClient, script: LuaScript, keys: string[], args: string[]): Promise<unknown> {
  try {
    return await client.evalSha(script.sha, { keys, arguments: args });
  } catch (err) {
    if (!isNoScript(err)) throw err;
    return client.eval(script.source, { keys, arguments: args });
  }
}
