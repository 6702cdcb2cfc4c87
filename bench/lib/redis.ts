/** The benchmark's own Redis connection: its key prefix, Redis CPU, cleanup. */
import { randomBytes } from 'node:crypto';
import { createClient } from 'redis';
import { onCleanup } from './children.js';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

export function assertLocalRedis(url: string) {
  const host = new URL(url).hostname;
  if (host !== '127.0.0.1' && host !== 'localhost' && host !== '[::1]') throw new Error(`refusing a non-loopback Redis: ${url}`);
}

export type BenchRedis = Awaited<ReturnType<typeof openBenchRedis>>;

/** What Redis had done when read: CPU seconds (user+sys) and commands run (scripts' own commands included). */
export interface RedisReading {
  cpuSeconds: number;
  commands: number;
}

/**
 * Connects, picks a fresh key prefix for this run and registers the deletion of
 * every key under it at exit (also on Ctrl-C).
 */
export async function openBenchRedis(tag: string) {
  assertLocalRedis(REDIS_URL);
  const prefix = `bench:${tag}:${randomBytes(4).toString('hex')}:`;
  const client = createClient({ url: REDIS_URL, socket: { connectTimeout: 3000, reconnectStrategy: false } });
  client.on('error', () => undefined);
  await client.connect();
  let closed = false;
  const api = {
    prefix,
    client,
    /**
     * Redis CPU seconds (user+sys, main thread and children) and commands run so far
     * (every client's; INFO itself not counted), as a window's two ends.
     */
    async reading(): Promise<RedisReading> {
      const [cpu, stats] = await Promise.all([client.info('cpu'), client.info('commandstats')]);
      const get = (k: string) => Number(new RegExp(`^${k}:([\\d.]+)`, 'm').exec(cpu)?.[1] ?? 0);
      let commands = 0;
      for (const m of stats.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) if (m[1] !== 'info') commands += Number(m[2]);
      return { cpuSeconds: get('used_cpu_user') + get('used_cpu_sys'), commands };
    },
    async deleteKeys(): Promise<number> {
      let n = 0;
      for await (const keys of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) {
        if (keys.length) n += await client.del(keys);
      }
      return n;
    },
    async close() {
      if (closed) return;
      closed = true;
      await api.deleteKeys().catch(() => undefined);
      await client.close().catch(() => undefined);
    },
  };
  onCleanup(() => api.close());
  return api;
}
