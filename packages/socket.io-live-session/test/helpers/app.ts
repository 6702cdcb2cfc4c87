/**
 * A small Express + express-session + Passport + Socket.IO app of the tests' own,
 * on the package's public API only, on either base store: express-session's
 * MemoryStore, or connect-redis's RedisStore on the shared Redis under a key
 * prefix of its own (deleted at close). Nothing here comes from the chat.
 */
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { RedisStore } from 'connect-redis';
import express, { type NextFunction, type Request, type Response } from 'express';
import session, { MemoryStore, type Store } from 'express-session';
import { Passport } from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';
import { Server, type Socket as ServerSocket } from 'socket.io';
import type { Socket as ClientSocket } from 'socket.io-client';
import { liveSession, redisBus, storeTtlSeconds, type EndReason, type LiveSession, type LiveSessionOptions, type RefuseReason, type SessionSnapshot } from '../../src/index.js';
import { connectTestClient, deleteKeys, uniquePrefix, type TestRedisClient } from '../../../../test/unit/helpers/redis.js';
import { baseDestroy } from './stores.js';

export type Backend = 'memory' | 'redis';
export const BACKENDS: readonly Backend[] = ['memory', 'redis'];

export const SECRET = 'live-session-test-secret-0123456789';
export const COOKIE = 'sid';
export const PASSWORD = 'pw';

/** A route that stops half-way (its session loaded and changed) until the test lets it go on. */
export interface Gate {
  /** Resolves once the route is waiting at the gate. */
  entered: Promise<void>;
  release(): void;
}

export interface AppOptions {
  /** liveSession options; `store` defaults to the backend's base store, `bus` to redisBus on Redis. */
  live?: Partial<LiveSessionOptions>;
  /** A base store of the test's own, instead of the backend's. */
  base?: Store;
  /** Redis backend: a fixed TTL (seconds) for connect-redis instead of the package's storeTtlSeconds. */
  storeTtlSeconds?: number;
  /** Also run passport.initialize() and passport.session() on each handshake. */
  passportOnHandshake?: boolean;
  /** More handshake middleware, run after the others. */
  handshake?: Array<(req: never, res: never, next: (err?: unknown) => void) => unknown>;
}

export interface TestApp {
  backend: Backend;
  url: string;
  /** The server's own origin, as browsers send it. */
  origin: string;
  io: Server;
  live: LiveSession;
  /** The store under live.store. */
  base: Store;
  /** The Redis key prefix of this app (Redis backend only). */
  prefix: string | undefined;
  /** Deletes a session's record behind the package's back (as a store's own expiry would). */
  dropRecord(sid: string): Promise<void>;
  redis: TestRedisClient | undefined;
  /** Every `change` hook call, in order. */
  changes: Array<{ socket: ServerSocket; session: SessionSnapshot }>;
  /** Every `extend` hook call, in order. */
  extends: Array<{ socket: ServerSocket; expiresAt: Date }>;
  /** Every `refuse` hook call, in order (with the refused request's Origin header). */
  refusals: Array<{ reason: RefuseReason; origin: string | undefined; handle: string | null }>;
  /** Every `end` hook call, in order (and whether the socket was still connected then). */
  ends: Array<{ socket: ServerSocket; reason: EndReason; connected: boolean }>;
  /** What the app's own io.use middleware (after attach) found in socket.request.user, per socket. */
  handshakeUsers: unknown[];
  /** The namespaces the app's own middleware on io.of(/^\/team-\d+$/) ran for. */
  dynamicMiddlewareRuns: string[];
  /** How many times the handshake middleware and Passport's deserializeUser ran. */
  calls: { sessionMiddleware: number; deserializeUser: number };
  /** The next gated route (/gated/set, /gated/save-twice) waits at this gate. */
  gate(): Gate;
  /** live.session(socket), typed as plain fields. */
  view(socket: ServerSocket): Record<string, unknown> | null;
  /** The server side of a connected client socket. */
  serverSocket(client: ClientSocket): ServerSocket;
  close(): Promise<void>;
}

type Fields = Record<string, unknown>;
const fieldsOf = (req: Request) => req.session as unknown as Fields;

/** Applies a JSON body to the session: null deletes a key, anything else sets it. */
function applyBody(req: Request) {
  for (const [key, value] of Object.entries((req.body ?? {}) as Fields)) {
    if (value === null) delete fieldsOf(req)[key];
    else fieldsOf(req)[key] = value;
  }
}

const userId = (req: Request) => (req.user as unknown as { id: string } | undefined)?.id ?? null;

export async function startApp(backend: Backend, opts: AppOptions = {}): Promise<TestApp> {
  let redis: TestRedisClient | undefined;
  let subscriber: TestRedisClient | undefined;
  let prefix: string | undefined;
  let base = opts.base;
  let bus = opts.live?.bus;
  if (backend === 'redis') {
    prefix = uniquePrefix();
    redis = await connectTestClient();
    if (!base) base = new RedisStore({ client: redis, prefix: `${prefix}sess:`, ttl: opts.storeTtlSeconds ?? storeTtlSeconds });
    if (!bus) {
      subscriber = redis.duplicate();
      subscriber.on('error', () => undefined);
      await subscriber.connect();
      const redisBusInstance = redisBus({ client: redis, subscriber, prefix });
      await redisBusInstance.ready;
      bus = redisBusInstance;
    }
  }
  base ??= new MemoryStore();
  const live = liveSession({ ...opts.live, store: opts.live?.store ?? base, ...(bus && { bus }) });

  const calls = { sessionMiddleware: 0, deserializeUser: 0 };
  const passport = new Passport();
  passport.use(new LocalStrategy((username, password, done) => done(null, password === PASSWORD ? ({ id: username } as unknown as Express.User) : false)));
  passport.serializeUser((user, done) => done(null, (user as unknown as { id: string }).id));
  passport.deserializeUser((id: string, done) => {
    calls.deserializeUser++;
    done(null, { id } as unknown as Express.User);
  });

  const sessionMiddleware = session({ name: COOKIE, secret: SECRET, store: live.store, resave: false, saveUninitialized: false });
  const counted = (req: Request, res: Response, next: NextFunction) => {
    calls.sessionMiddleware++;
    sessionMiddleware(req, res, next);
  };

  const gates: Array<Gate & { wait: Promise<void>; enter(): void }> = [];
  const takeGate = async () => {
    const g = gates.shift();
    if (!g) throw new Error('a gated route was called without a gate');
    g.enter();
    await g.wait;
  };

  const app = express();
  app.use(express.json(), sessionMiddleware, passport.initialize(), passport.session());
  app.post('/login', passport.authenticate('local'), (req, res) => {
    res.json({ user: userId(req) });
  });
  app.get('/me', (req, res) => {
    const { cookie: _cookie, ...data } = fieldsOf(req);
    res.json({ user: userId(req), data });
  });
  app.post('/set', (req, res) => {
    applyBody(req);
    res.json({ ok: true });
  });
  app.post('/gated/set', async (req, res) => {
    applyBody(req);
    await takeGate();
    res.json({ ok: true });
  });
  /** Sets `first`, waits at the gate, saves explicitly, then sets `second` (saved again at the end). */
  app.post('/gated/save-twice', async (req, res, next) => {
    const { first, second } = req.body as { first: Fields; second: Fields };
    Object.assign(fieldsOf(req), first);
    await takeGate();
    req.session.save((err) => {
      if (err) return next(err);
      Object.assign(fieldsOf(req), second);
      res.json({ ok: true });
    });
  });
  app.post('/save', (req, res, next) => {
    applyBody(req);
    req.session.save((err) => (err ? next(err) : res.json({ ok: true })));
  });
  app.post('/logout', (req, res, next) => req.logout((err) => (err ? next(err) : res.sendStatus(204))));
  app.post('/destroy', (req, res, next) => req.session.destroy((err) => (err ? next(err) : res.sendStatus(204))));
  app.post('/regenerate', (req, res, next) => req.session.regenerate((err) => (err ? next(err) : res.sendStatus(204))));
  app.get('/handle', (req, res) => {
    res.json({ handle: live.handle(req) });
  });
  app.post('/revoke-others', async (req, res) => {
    res.json({ count: await live.revokeUser(req.user, { except: req }) });
  });
  app.use((err: Error, _req: Request, res: Response, _next: NextFunction) => {
    res.status(500).json({ error: err.message });
  });

  const httpServer: HttpServer = createServer(app);
  const io = new Server(httpServer);
  const handshake: Array<(req: never, res: never, next: (err?: unknown) => void) => void> = [counted];
  if (opts.passportOnHandshake) handshake.push(passport.initialize(), passport.session());
  handshake.push(...((opts.handshake ?? []) as typeof handshake));
  live.attach(io, ...handshake);

  const changes: TestApp['changes'] = [];
  live.on('change', (socket, snapshot) => {
    changes.push({ socket, session: snapshot });
    socket.emit('session', snapshot); // what an app would do: tell the client
  });
  const extended: TestApp['extends'] = [];
  live.on('extend', (socket, expiresAt) => extended.push({ socket, expiresAt }));
  const refusals: TestApp['refusals'] = [];
  live.on('refuse', (reason, req, handle) => refusals.push({ reason, origin: req.headers.origin, handle }));
  const ends: TestApp['ends'] = [];
  live.on('end', (socket, reason) => ends.push({ socket, reason, connected: socket.connected }));
  const handshakeUsers: unknown[] = [];
  io.use((socket, next) => {
    handshakeUsers.push((socket.request as unknown as { user?: unknown }).user);
    next();
  });
  // A second namespace, and dynamic ones with a middleware of the app's own: attach guards them as well.
  io.of('/admin').on('connection', (socket) => {
    socket.on('whoami', (ack: (s: SessionSnapshot | null) => void) => ack(live.session(socket)));
  });
  const dynamicMiddlewareRuns: string[] = [];
  io.of(/^\/team-\d+$/)
    .use((socket, next) => {
      dynamicMiddlewareRuns.push(socket.nsp.name);
      next();
    })
    .on('connection', (socket) => {
      socket.on('whoami', (ack: (s: SessionSnapshot | null) => void) => ack(live.session(socket)));
    });
  io.on('connection', (socket) => {
    socket.on('whoami', (ack: (s: SessionSnapshot | null) => void) => ack(live.session(socket)));
    /** A write from the socket: {ok, session} or {ok: false, error}. */
    socket.on('update', (patch: Record<string, unknown>, ack: (reply: object) => void) => {
      live.update(socket, (draft) => void Object.assign(draft, patch)).then(
        (snapshot) => ack({ ok: true, session: snapshot }),
        (err: Error) => ack({ ok: false, error: err.name }),
      );
    });
    socket.on('activity', (...args: unknown[]) => {
      const ack = args.at(-1);
      if (typeof ack === 'function') ack(true);
    });
  });

  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  const { port } = httpServer.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;

  return {
    backend,
    url,
    origin: url,
    io,
    live,
    base,
    prefix,
    redis,
    async dropRecord(sid) {
      if (redis && !opts.base) expect(await redis.del(`${prefix}sess:${sid}`)).to.equal(1);
      else await baseDestroy(base, sid);
    },
    changes,
    extends: extended,
    refusals,
    ends,
    handshakeUsers,
    dynamicMiddlewareRuns,
    calls,
    gate() {
      let enter!: () => void;
      let release!: () => void;
      const entered = new Promise<void>((resolve) => (enter = resolve));
      const wait = new Promise<void>((resolve) => (release = resolve));
      const g = { entered, wait, enter, release };
      gates.push(g);
      return { entered, release };
    },
    view: (socket) => live.session(socket) as Record<string, unknown> | null,
    serverSocket(client) {
      const s = io.of('/').sockets.get(client.id ?? '');
      if (!s) throw new Error('no server socket for that client');
      return s;
    },
    async close() {
      live.close();
      await new Promise<void>((resolve) => io.close(() => resolve()));
      if (redis) {
        await deleteKeys(redis, prefix!);
        await subscriber?.close();
        await redis.close();
      }
    },
  };
}
