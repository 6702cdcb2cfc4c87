import { randomUUID } from 'node:crypto';
import type { App } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import { start } from '../../src/start.js';
import type { Stores } from '../../src/store/index.js';
import { deleteRedisPrefix, REDIS_URL } from '../unit/helpers/redis.js';

export type Backend = 'memory' | 'redis';
export const BACKENDS: Backend[] = ['memory', 'redis'];

export interface TestServer {
  url: string;
  origin: string;
  config: Config;
  stores: Stores;
  app: App;
  close(): Promise<void>;
}

/** Starts the real app on a free port, on the chosen backend, in its own Redis namespace. */
export async function startServer(backend: Backend, env: Record<string, string> = {}): Promise<TestServer> {
  const prefix = `test:${randomUUID().slice(0, 8)}:`;
  const config = loadConfig({
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    SESSION_SECRET: 'test-secret-0123456789abcdef',
    ...(backend === 'redis' ? { REDIS_URL, REDIS_PREFIX: prefix } : {}),
    ...env,
    PORT: '0',
    HOST: '127.0.0.1',
  });
  const server = await start(config, { announce: false });
  return {
    url: server.url,
    origin: server.url,
    config,
    stores: server.stores,
    app: server.app,
    async close() {
      await server.close();
      if (backend === 'redis') await deleteRedisPrefix(prefix);
    },
  };
}
