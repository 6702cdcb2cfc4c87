import type { AddressInfo } from 'node:net';
import { createApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { createStores } from './store/index.js';
import { SHUTDOWN_LIMIT_MS } from './timings.js';


async function main() {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`configuration error: ${err.message}`);
      process.exit(1);
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  if (!config.redis) log.warn('neither REDIS_URL nor REDIS_CLUSTER_NODES is set: using in-memory stores (one process, nothing kept across restarts)');
  if (config.sessionSecretGenerated) log.warn('SESSION_SECRET is not set: using a random secret, so sessions end at restart');

  const stores = await createStores(config, log);
  const server = createApp(config, { stores, log });

  await new Promise<void>((resolve, reject) => {
    server.httpServer.once('error', reject);
    // A deep accept backlog: after a deploy or a blip, thousands of clients reconnect at once.
    server.httpServer.listen({ port: config.port, host: config.host, backlog: 4096 }, resolve);
  });
  const { port } = server.httpServer.address() as AddressInfo;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  // Launchers and tests wait for this line, so it is written whatever LOG_LEVEL is (PROTOCOL.md).
  log.child({}, { level: 'info' }).info({ store: stores.kind }, `listening on http://${host}:${port}`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    setTimeout(() => {
      log.error('shutdown took too long; exiting');
      process.exit(1);
    }, SHUTDOWN_LIMIT_MS).unref();
    try {
      await server.close();
      await stores.close();
      log.info('stopped');
      process.exit(0);
    } catch (err) {
      log.error({ err }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((err: unknown) => {
  console.error('failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
});
