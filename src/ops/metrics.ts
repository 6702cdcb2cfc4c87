import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RequestHandler, Response } from 'express';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The metrics of PROTOCOL.md ("Operations"), for `GET /metrics` on METRICS_PORT.
 *
 * The hot path is the socket event dispatcher: prom-client's label children hash
 * and validate their labels on every `inc`/`observe` (0.4-1.5 µs each), so each
 * client event's counts are plain numbers here (an `EventMeter`, made once per
 * event name) that prom-client reads at scrape time. The gauges are read at scrape
 * time too. Everything else (handshakes, HTTP requests, session ends, rate limits)
 * is counted with prom-client's counters directly: each of those already costs far more.
 */

/** Upper bounds (seconds) of `socket_event_duration_seconds`; handlers time out at 4 s (timings.ts). */
export const EVENT_SECONDS_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] as const;

/** What the dispatcher counts for one client event. */
export interface EventMeter {
  /** A start time for `done` (0 when nothing is timed). */
  start(): number;
  /** The event was answered: `result` is `ok` or the error code; `started` from `start()`, or 0 for an event refused before its handler ran (counted, not timed). */
  done(result: string, started: number): void;
}

/** Where the gauges read from, at scrape time. */
export interface GaugeSources {
  /** Connected sockets on this process. */
  sockets(): number;
  /** Sessions with open sockets on this process. */
  sessions(): number;
}

export interface Metrics {
  /** False for `noMetrics` (no METRICS_PORT): callers may skip work that only feeds metrics. */
  readonly enabled: boolean;
  /** The meter of one client event; the dispatcher asks once per event name and keeps it. */
  event(name: string): EventMeter;
  /** A socket handshake: `ok`, or why it was refused. */
  handshake(result: string): void;
  /** A socket whose session ended, by the reason it was told. */
  sessionEnded(reason: string): void;
  /** A request some limit refused. */
  rateLimited(limit: string): void;
  gauges(sources: GaugeSources): void;
  /** Counts every HTTP request of the app by method, route pattern and status (install it first). */
  readonly countRequests: RequestHandler;
}

export interface ServedMetrics extends Metrics {
  readonly registry: Registry;
}

const unmeasured: EventMeter = { start: () => 0, done: () => undefined };

/** No METRICS_PORT: nothing is counted, and the dispatcher takes no time stamps. */
export const noMetrics: Metrics = {
  enabled: false,
  event: () => unmeasured,
  handshake: () => undefined,
  sessionEnded: () => undefined,
  rateLimited: () => undefined,
  gauges: () => undefined,
  countRequests: (_req, _res, next) => next(),
};

/** One event's counts and durations, as plain numbers (see the top of this file). */
class CountingMeter implements EventMeter {
  ok = 0;
  /** By error code. */
  readonly failed = new Map<string, number>();
  /** Per bucket (not cumulative); the last one is +Inf. */
  readonly buckets = new Float64Array(EVENT_SECONDS_BUCKETS.length + 1);
  sum = 0;

  constructor(readonly event: string) {}

  start() {
    return performance.now();
  }

  done(result: string, started: number) {
    if (result === 'ok') this.ok += 1;
    else this.failed.set(result, (this.failed.get(result) ?? 0) + 1);
    if (started === 0) return;
    const seconds = (performance.now() - started) / 1000;
    let i = 0;
    while (i < EVENT_SECONDS_BUCKETS.length && seconds > EVENT_SECONDS_BUCKETS[i]!) i++;
    this.buckets[i]! += 1;
    this.sum += seconds;
  }
}

type HistogramValues = Awaited<ReturnType<Histogram<'event'>['get']>>;
type HistogramValue = { labels: Record<string, string | number>; value: number; metricName: string };

const DURATION = 'socket_event_duration_seconds';
const DURATION_HELP = 'Time from a client event to its acknowledgement, for events that reached their handler';

/** `socket_event_duration_seconds`, read from the meters when scraped. */
class MeteredHistogram extends Histogram<'event'> {
  constructor(
    private readonly meters: Map<string, CountingMeter>,
    registry: Registry,
  ) {
    super({ name: DURATION, help: DURATION_HELP, labelNames: ['event'], buckets: [...EVENT_SECONDS_BUCKETS], registers: [registry] });
  }

  /** What the registry's text output reads (prom-client 15); the same as `get`. The metrics test fails if it ever stops reading it. */
  async getForPromString(): Promise<HistogramValues> {
    return this.get();
  }

  override async get(): Promise<HistogramValues> {
    const values: HistogramValue[] = [];
    for (const m of this.meters.values()) {
      const count = m.buckets.reduce((a, b) => a + b, 0);
      if (count === 0) continue; // an event never timed has no series
      let cumulative = 0;
      EVENT_SECONDS_BUCKETS.forEach((le, i) => {
        cumulative += m.buckets[i]!;
        values.push({ labels: { event: m.event, le }, value: cumulative, metricName: `${DURATION}_bucket` });
      });
      values.push({ labels: { event: m.event, le: '+Inf' }, value: count, metricName: `${DURATION}_bucket` });
      values.push({ labels: { event: m.event }, value: m.sum, metricName: `${DURATION}_sum` });
      values.push({ labels: { event: m.event }, value: count, metricName: `${DURATION}_count` });
    }
    // The shape prom-client's own Histogram returns (its typings leave out the `le` label).
    return { name: DURATION, help: DURATION_HELP, type: 'histogram', aggregator: 'sum', values } as unknown as HistogramValues;
  }
}

/**
 * The route pattern a request matched (`/api/rooms/:id/members`), not its path, so the
 * label has a bounded set of values. Express sets `req.route` when a route matches and
 * may reset `req.baseUrl` before the response ends (an error leaves the router), so
 * the pattern is taken at the moment the route is set.
 */
const ROUTE = Symbol('matched route');
const STATIC = Symbol('static file');
type Tracked = IncomingMessage & { baseUrl?: string; [ROUTE]?: string };

function trackRoute(req: Tracked) {
  let route: { path?: unknown } | undefined;
  Object.defineProperty(req, 'route', {
    configurable: true,
    enumerable: true,
    get: () => route,
    set(value: { path?: unknown } | undefined) {
      route = value;
      if (typeof value?.path === 'string') req[ROUTE] = `${req.baseUrl ?? ''}${value.path}`;
    },
  });
}

/** For express.static's `setHeaders`: the response is a static file (route `static`). */
export const markStatic = (res: unknown) => {
  (res as Record<symbol, boolean>)[STATIC] = true;
};

/** The metrics of one app, in a registry of its own, with Node's default process metrics. */
export function createMetrics(): ServedMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const meters = new Map<string, CountingMeter>();
  new Counter({
    name: 'socket_events_total',
    help: 'Client events answered, by event and result (ok or the error code)',
    labelNames: ['event', 'result'],
    registers: [registry],
    collect() {
      this.reset();
      for (const m of meters.values()) {
        if (m.ok) this.inc({ event: m.event, result: 'ok' }, m.ok);
        for (const [result, n] of m.failed) this.inc({ event: m.event, result }, n);
      }
    },
  });
  new MeteredHistogram(meters, registry);

  let sources: GaugeSources = { sockets: () => 0, sessions: () => 0 };
  new Gauge({
    name: 'live_sockets',
    help: 'Connected sockets on this process',
    registers: [registry],
    collect() {
      this.set(sources.sockets());
    },
  });
  new Gauge({
    name: 'live_sessions',
    help: 'Sessions with open sockets on this process',
    registers: [registry],
    collect() {
      this.set(sources.sessions());
    },
  });

  const handshakes = new Counter({
    name: 'handshakes_total',
    help: 'Socket handshakes, by result: ok, unauthorized, origin, too_many_connections (or unavailable, closed)',
    labelNames: ['result'],
    registers: [registry],
  });
  const ended = new Counter({
    name: 'session_ended_sockets_total',
    help: 'Sockets ended because their session ended, by reason (logout, revoked, expired)',
    labelNames: ['reason'],
    registers: [registry],
  });
  const requests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests answered, by method, route pattern (static, or unmatched) and status',
    labelNames: ['method', 'route', 'status'],
    registers: [registry],
  });
  const limited = new Counter({
    name: 'rate_limited_total',
    help: 'Requests and events refused by a rate limit, by limit',
    labelNames: ['limit'],
    registers: [registry],
  });

  return {
    enabled: true,
    registry,
    event(name) {
      let m = meters.get(name);
      if (!m) meters.set(name, (m = new CountingMeter(name)));
      return m;
    },
    handshake: (result) => handshakes.inc({ result }),
    sessionEnded: (reason) => ended.inc({ reason }),
    rateLimited: (limit) => limited.inc({ limit }),
    gauges(s) {
      sources = s;
    },
    countRequests(req, res, next) {
      trackRoute(req);
      res.on('finish', () => {
        const route = (req as Tracked)[ROUTE] ?? ((res as Response & Record<symbol, boolean>)[STATIC] ? 'static' : 'unmatched');
        requests.inc({ method: req.method, route, status: String(res.statusCode) });
      });
      next();
    },
  };
}

/** The metrics listener: `GET /metrics` and nothing else, on its own port (never the app's). */
export interface MetricsListener {
  url: string;
  close(): Promise<void>;
}

export function serveMetrics(registry: Registry, host: string, port: number): Promise<MetricsListener> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      () => res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics failed\n'),
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host }, () => {
      server.off('error', reject);
      const bound = (server.address() as AddressInfo).port;
      const shown = host.includes(':') ? `[${host}]` : host;
      resolve({
        url: `http://${shown}:${bound}/metrics`,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
