import { readdirSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import express, { type Express, type RequestHandler } from 'express';
import session from 'express-session';
import { liveSession, type LiveSession } from 'socket.io-live-session';
import { authApi, type ApiDeps } from './auth/api.js';
import { createPassport } from './auth/passport.js';
import type { Config } from './config.js';
import { AppError, errorMapper } from './errors.js';
import type { Logger } from './logger.js';
import { publicDir, viewsDir } from './paths.js';
import { clientAddress, type TrustProxy } from './ops/audit.js';
import { markStatic, noMetrics, type Metrics } from './ops/metrics.js';
import type { AppServer } from './realtime/events.js';
import { createRealtime } from './realtime/io.js';
import { createChatRealtime } from './realtime/chat.js';
import { roomEviction } from './realtime/rooms.js';
import { corsForAllowedOrigins, createCsrf, noStore, originGuard, securityHeaders } from './security/http.js';
import { rememberVerifiedSignatures } from './security/cookie-signatures.js';
import { createLimits, type RateLimits } from './security/limits.js';
import type { Stores } from './store/types.js';
import { publicUserFinder } from './chat/users.js';
import { chatApi } from './web/chat-api.js';
import { errorHandler } from './http/error-handler.js';
import { pages } from './web/pages.js';
import { READY_PROBE_TIMEOUT_MS } from './timings.js';

export interface AppDeps {
  stores: Stores;
  log: Logger;
  /** What the app counts (ops/metrics.ts); default: nothing (no METRICS_PORT). */
  metrics?: Metrics;
}

export interface App {
  app: Express;
  httpServer: HttpServer;
  io: AppServer;
  /** The live session (socket.io-live-session) every socket reads. */
  live: LiveSession;
  log: Logger;
  metrics: Metrics;
  /** Every rate limit (security/limits.ts), as the HTTP routes and socket events consume them. */
  limits: RateLimits;
  /** Stops accepting, ends sockets, stops timers. Does not close the stores (the caller owns them). */
  close(): Promise<void>;
}

/**
 * The files of `dir` (public/), served to the paths under its own top-level entries only
 * (/css/..., /js/..., /favicon.svg), as they were when the app started. express.static
 * alone looks for every GET and HEAD in the file system first (a `stat` in libuv's thread
 * pool, where password hashes run too): each API call and page waited for a stat of a file
 * that is not there, behind the logins' argon2 work.
 */
function staticFiles(dir: string, options: Parameters<typeof express.static>[1]): RequestHandler {
  const serve = express.static(dir, options);
  const entries = new Set(readdirSync(dir));
  return (req, res, next) => {
    const first = req.path.slice(1).split('/', 1)[0]!;
    if (entries.has(first)) serve(req, res, next);
    else next();
  };
}

/** Wires the app. Never listens and never reads the environment. */
export function createApp(config: Config, { stores, log, metrics = noMetrics }: AppDeps): App {
  // Every session, on HTTP and on sockets, is the live session's (socket.io-live-session).
  const live = liveSession({
    store: stores.sessionBase,
    bus: stores.bus,
    ttlSeconds: config.sessionTtlSeconds,
    anonymousTtlSeconds: config.anonymousSessionTtlSeconds,
    user: (data) => data.passport?.user,
    origins: config.allowedOrigins,
    trustProxy: Boolean(config.trustProxy),
    log,
  });

  // express-session checks the session cookie's HMAC on every request and socket handshake: once per cookie now.
  rememberVerifiedSignatures();

  // The cookie has no Expires: it lives as long as the browser session, so it can
  // never expire before the server-side session while a page is open. The
  // server enforces the idle lifetime (SESSION_TTL_SECONDS) itself.
  const sessionMiddleware = session({
    name: 'sid',
    secret: config.sessionSecrets,
    store: live.store,
    resave: false,
    saveUninitialized: false,
    proxy: config.trustProxy ? true : undefined,
    cookie: { httpOnly: true, sameSite: 'lax', secure: config.production, path: '/' },
  });
  const passport = createPassport(stores);
  const csrf = createCsrf(log);
  // One origin policy for every API request, as the live session applies it to every Engine.IO request.
  const originPolicy = live.origins;
  const limits = createLimits(stores, config.limits, metrics.rateLimited);
  const deps: ApiDeps = {
    stores,
    passport,
    limits,
    live,
    log,
    generateCsrfToken: csrf.generateToken,
  };

  const app = express();
  app.disable('x-powered-by');
  if (config.trustProxy !== undefined) app.set('trust proxy', config.trustProxy);
  app.set('view engine', 'ejs');
  app.set('views', viewsDir);
  // The same client address for sockets as Express's req.ip (TRUST_PROXY), for audit lines.
  const trust = app.get('trust proxy fn') as TrustProxy;

  // First, so that every answer is counted, whatever answers it (http_requests_total).
  if (metrics.enabled) app.use(metrics.countRequests);
  app.use(securityHeaders(config.production));
  app.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });
  app.get('/readyz', async (_req, res) => {
    try {
      await Promise.race([stores.ping(), new Promise((_, reject) => setTimeout(reject, READY_PROBE_TIMEOUT_MS, new Error('timeout')).unref())]);
      res.json({ ok: true });
    } catch {
      res.status(503).json({ error: { code: 'not_ready', message: 'a backing store does not answer' } });
    }
  });
  app.use(staticFiles(publicDir, { index: false, maxAge: config.production ? '1h' : 0, setHeaders: markStatic }));
  // Everything after the static files is a page or an API answer that may carry a token or personal data.
  app.use(noStore);

  app.use('/api', corsForAllowedOrigins(originPolicy), originGuard(originPolicy, log, 'all'));
  app.use(originGuard(originPolicy, log, 'unsafe-methods'));
  app.use(express.json({ limit: '32kb' }), express.urlencoded({ extended: false, limit: '32kb' }));
  app.use(sessionMiddleware, passport.initialize(), passport.session());
  app.use(csrf.protect);

  const httpServer = createServer(app);
  const toAppError = errorMapper(stores.isUnavailable);
  const chat = createChatRealtime({
    users: stores.users,
    chat: stores.chat,
    presence: stores.presence,
    presenceUpkeep: stores.presenceUpkeep,
    roomChannels: stores.roomChannels,
    roomPeers: stores.roomPeers,
    subscriptions: stores.subscriptions,
    roomLapses: stores.roomLapses,
    live,
    limits,
    presenceGraceMs: config.presenceGraceMs,
    maxSocketsPerUser: config.maxSocketsPerUser,
    log,
  });
  const io = createRealtime({
    httpServer,
    live,
    sessionMiddleware,
    handlers: chat.handlers,
    services: chat.services,
    toAppError,
    adapter: stores.socketAdapter,
    admit: chat.admit,
    onConnect: chat.onConnect,
    clientAddress: (req) => clientAddress(req, trust),
    metrics,
    log,
  });
  chat.attach(io);

  app.use('/api', authApi(deps), chatApi({ chat: stores.chat, findUser: publicUserFinder(stores.users), eviction: roomEviction(io), limits, log }));
  app.use('/api', (_req, _res, next) => next(new AppError('not_found', 'no such endpoint')));
  app.use(pages({ ...deps, chat: stores.chat }));
  app.use(errorHandler(log, toAppError));

  return {
    app,
    httpServer,
    io,
    live,
    log,
    metrics,
    limits,
    async close() {
      chat.stop();
      live.close();
      // Closing the transports (not a Socket.IO-level disconnect) lets clients
      // reconnect on their own, to another process behind the balancer.
      await new Promise<void>((resolve) => io.close(() => resolve()));
      await chat.drain();
    },
  };
}
