import type { AddressInfo } from 'node:net';
import { createApp, type App } from './app.js';
import type { Config } from './config.js';
import { createLogger, type Logger } from './logger.js';
import { createMetrics, serveMetrics, type MetricsListener } from './ops/metrics.js';
import { createStores, type Stores } from './store/index.js';
import { SHUTDOWN_LIMIT_MS } from './timings.js';

/** A running server: what `start` made, listening at `url`. */
export interface Started {
  /** `http://HOST:PORT`, with the port actually bound (PORT=0 picks a free one). */
  url: string;
  port: number;
  /** `http://HOST:METRICS_PORT/metrics`, with the port actually bound; undefined without METRICS_PORT. */
  metricsUrl: string | undefined;
  config: Config;
  stores: Stores;
  app: App;
  log: Logger;
  /**
   * Stops the app (sockets, timers, the port), then closes the stores unless the
   * caller gave them. Idempotent: every call waits for the same close.
   */
  close(): Promise<void>;
}

export interface StartOptions {
  /** Defaults to a new logger at `config.logLevel`. */
  log?: Logger;
  /**
   * Whether to write the readiness line `listening on http://HOST:PORT` (default true).
   * Only an in-process caller that holds the returned `Started` (a test) turns it off.
   */
  announce?: boolean;
  /** Stores the caller owns (e.g. shared by several apps); `close` leaves them open. Default: new ones from `config`. */
  stores?: Stores;
}

/**
 * The one boot of the server (src/server.ts, the bench's app-server, the tests):
 * stores, app, listen (and, with METRICS_PORT, the metrics listener on its own
 * port, serving only `GET /metrics`). Resolves once it listens. Never reads the environment and
 * never installs signal handlers (see `stopOnSignals`). If it cannot listen
 * (e.g. the port is taken) it closes what it made and rejects, naming the address.
 */
export async function start(config: Config, opts: StartOptions = {}): Promise<Started> {
  const log = opts.log ?? createLogger(config.logLevel);
  if (!config.redis) log.warn('neither REDIS_URL nor REDIS_CLUSTER_NODES is set: using in-memory stores (one process, nothing kept across restarts)');
  if (config.sessionSecretGenerated) log.warn('SESSION_SECRET is not set: using a random secret, so sessions end at restart');

  const stores = opts.stores ?? (await createStores(config, log));
  let app: App | undefined;
  let metricsListener: MetricsListener | undefined;
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      try {
        await metricsListener?.close();
        await app?.close();
      } finally {
        if (!opts.stores) await stores.close();
      }
    })());

  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const metrics = config.metricsPort === undefined ? undefined : createMetrics();
  let onMetricsPort = false;
  try {
    app = createApp(config, { stores, log, ...(metrics && { metrics }) });
    await listen(app, config);
    if (metrics) {
      onMetricsPort = true;
      metricsListener = await serveMetrics(metrics.registry, config.host, config.metricsPort!);
    }
  } catch (err) {
    await close().catch((closeErr: unknown) => log.error({ err: closeErr }, 'closing after a failed start failed'));
    if (!isListenError(err)) throw err;
    const why = err.code === 'EADDRINUSE' ? 'the port is already in use (EADDRINUSE)' : err.message;
    const where = onMetricsPort ? `${host}:${config.metricsPort} (METRICS_PORT)` : `${host}:${config.port}`;
    throw new Error(`cannot listen on ${where}: ${why}`, { cause: err });
  }

  const { port } = app.httpServer.address() as AddressInfo;
  const url = `http://${host}:${port}`;
  // Launchers and tests wait for this line, so it is written whatever LOG_LEVEL is (PROTOCOL.md).
  if (opts.announce ?? true) log.child({}, { level: 'info' }).info({ store: stores.kind, metrics: metricsListener?.url }, `listening on ${url}`);
  return { url, port, metricsUrl: metricsListener?.url, config, stores, app, log, close };
}

function listen(app: App, config: Config) {
  const server = app.httpServer;
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // A deep accept backlog: after a deploy or a blip, thousands of clients reconnect at once.
    server.listen({ port: config.port, host: config.host, backlog: 4096 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

const isListenError = (err: unknown): err is NodeJS.ErrnoException & { syscall: 'listen' } =>
  err instanceof Error && (err as NodeJS.ErrnoException).syscall === 'listen';

/**
 * SIGTERM / SIGINT: close the server, then exit 0 (1 if closing fails or takes
 * longer than SHUTDOWN_LIMIT_MS). For a process that runs one server (src/server.ts, the bench's).
 */
export function stopOnSignals(server: Pick<Started, 'log' | 'close'>) {
  const { log } = server;
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
