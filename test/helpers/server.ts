import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { createApp, type App } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createStores, type Stores } from '../../src/store/index.js';
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
  });
  const log = createLogger(config.logLevel);
  const stores = await createStores(config, log);
  const app = createApp(config, { stores, log });
  await new Promise<void>((resolve) => app.httpServer.listen(0, '127.0.0.1', resolve));
  const { port } = app.httpServer.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    origin: url,
    config,
    stores,
    app,
    async close() {
      await app.close();
      await stores.close();
      if (backend === 'redis') await deleteRedisPrefix(prefix);
    },
  };
}
