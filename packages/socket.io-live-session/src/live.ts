import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { ServerResponse, type IncomingMessage } from 'node:http';
import type { Store } from 'express-session';
import type { Namespace, Server, Socket } from 'socket.io';
import { memoryBus } from './bus.js';
import { keepUpgradeRequestsFast, type EngineLike } from './engine.js';
import { isOrigin, originPolicy, type OriginPolicy } from './origin.js';
import { LiveStore } from './store.js';
import type { EndReason, LiveBus, Log, SessionFields, SessionSnapshot } from './types.js';
import { LiveViews, type LiveView } from './views.js';

export interface LiveSessionOptions {
  /** Required: the app's express-session Store (MemoryStore, connect-redis's RedisStore, ...); wrapped, not replaced. */
  store: Store;
  /** Idle lifetime, enforced on open sockets too; socket events count as activity. Default 86400. */
  ttlSeconds?: number;
  /** Extension: idle lifetime of a session nobody is logged into (a CSRF token, a visit to the login page). Default ttlSeconds. */
  anonymousTtlSeconds?: number;
  /** Extension: activity rewrites the deadline at most this often (and at least every tenth of the lifetime). Default 60. */
  touchEverySeconds?: number;
  /** How processes tell each other about changes: redisBus({client, subscriber}). Default: this process only. */
  bus?: LiveBus;
  /** The logged-in user of a session's data (an id, or an object with an `id`), or a falsy value. Default: data.passport?.user. */
  user?: (data: SessionFields) => unknown;
  /** Extra origins allowed to open sockets; the server's own origin always is. Default []. */
  origins?: readonly string[];
  /** Extension: the server runs behind a proxy: its own origin is read from X-Forwarded-Host/-Proto. Default false. */
  trustProxy?: boolean;
  /** Extension: where to log store failures and refused origins (pino and console fit). Default: nowhere. */
  log?: Log;
}

/** A session of a user, as `sessionsOf` lists it. */
export interface SessionInfo {
  /** Opaque and stable; never the cookie's session id. */
  handle: string;
  createdAt: Date;
  lastSeenAt: Date;
  data: SessionSnapshot;
}

type Middleware = (req: never, res: never, next: (err?: unknown) => void) => void;
type EngineMiddleware = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

/** Fields express-session (and Passport, when given) hang on a handshake request, let go once the socket is in. */
const REQUEST_EXTRAS = ['session', 'sessionStore', 'sessionID', 'user', '_passport', '_parsedUrl', '_parsedOriginalUrl'] as const;
const HANDSHAKE_RESPONSE = Symbol('handshake response');
type HandshakeRequest = IncomingMessage & {
  session?: object;
  sessionID?: string;
  _query?: { sid?: string };
  [HANDSHAKE_RESPONSE]?: ServerResponse;
};

/**
 * Where a socket carries its live view (from its admission at CONNECT on), and an Engine.IO
 * connection (Socket.IO's Client) the session id its handshake loaded: symbol-keyed
 * properties rather than WeakMaps, which cost about ten times as much per entry (an
 * ephemeron the collector traces) and were three more entries a handshake.
 */
const VIEW = Symbol('socket.io-live-session view');
const HANDSHAKE_SID = Symbol('socket.io-live-session handshake sid');
type WithView = { [VIEW]?: LiveView | undefined };
type WithSid = { [HANDSHAKE_SID]?: string | null };
const viewSlot = (socket: Socket) => socket as unknown as WithView;
const sidSlot = (socket: Socket) => socket.client as unknown as WithSid;

const isHandshake = (req: IncomingMessage) => (req as HandshakeRequest)._query?.sid === undefined;

/**
 * engine.io keeps an upgrade's response object (and through it the request)
 * alive for the whole connection, and express-session replaced its
 * `end`/`writeHead` with closures over the request: the session, its cookie
 * and the parsed URL would stay in memory per socket. Once the socket is
 * admitted, let all of that go (a few KB a socket). The headers stay.
 *
 * Everything is overwritten, never `delete`d: deleting a property that is not
 * the object's last turns it into a slow (dictionary-mode) object for good,
 * which costs more per socket (~0.8 KB the response, ~1.6 KB the request)
 * than what the delete lets go of.
 */
function releaseHandshake(req: HandshakeRequest) {
  const res = req[HANDSHAKE_RESPONSE] as unknown as Record<string, unknown> | undefined;
  if (res) {
    // Back to the prototype's methods, as own properties.
    const proto = Object.getPrototypeOf(res) as Record<string, unknown>;
    if (Object.hasOwn(res, 'end')) res.end = proto.end;
    if (Object.hasOwn(res, 'writeHead')) res.writeHead = proto.writeHead;
    // An upgrade's stand-in response (engine.io's WebSocketResponse, kept alive by a `close`
    // listener on the TCP socket) points at the request, which it needs only until the upgrade
    // is done: without that link the request lives exactly as long as the app keeps it
    // (socket.request, engine.io's conn.request). A real ServerResponse is left as it is.
    if (!(res instanceof ServerResponse) && res.req === req) res.req = undefined;
  }
  const bag = req as unknown as Record<string | symbol, unknown>;
  for (const key of REQUEST_EXTRAS) if (Object.hasOwn(bag, key)) bag[key] = undefined;
  if (res) bag[HANDSHAKE_RESPONSE] = undefined;
}

/** An option error that names the option, as express-session's own are. */
const optionError = (message: string) => new TypeError(`socket.io-live-session: ${message}`);

function validate(o: LiveSessionOptions) {
  if (!o || typeof o !== 'object') throw optionError('liveSession(options) needs an options object');
  const store = o.store as Partial<Store> | undefined;
  if (!store || typeof store.get !== 'function' || typeof store.set !== 'function' || typeof store.destroy !== 'function') {
    throw optionError('store option is required: an express-session Store (with get, set and destroy)');
  }
  for (const name of ['ttlSeconds', 'anonymousTtlSeconds', 'touchEverySeconds'] as const) {
    const v = o[name];
    if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && v > 0)) throw optionError(`${name} option must be a positive number of seconds`);
  }
  if (o.user !== undefined && typeof o.user !== 'function') throw optionError('user option must be a function (sessionData) => user');
  const bus = o.bus as Partial<LiveBus> | null | undefined;
  if (bus !== undefined && (!bus || typeof bus.publish !== 'function' || typeof bus.subscribe !== 'function' || !bus.lock || !bus.index)) {
    throw optionError('bus option must be a bus, e.g. redisBus({ client, subscriber })');
  }
  if (o.origins !== undefined) {
    if (!Array.isArray(o.origins)) throw optionError('origins option must be an array of origins');
    for (const origin of o.origins) {
      if (!isOrigin(origin)) throw optionError(`origins option: ${JSON.stringify(origin)} is not an origin like https://example.com (scheme, host, optional port)`);
    }
  }
}

/** The key a user is indexed and compared by: an id, or an object's `id`; a falsy value (or id) is nobody. */
function keyOf(user: unknown): string | undefined {
  const id = user && typeof user === 'object' ? (user as { id?: unknown }).id : user;
  // The contract: a falsy user (or id) is nobody, 0 included. Apps whose ids can be 0 serialize them as strings.
  return id ? String(id) : undefined;
}

/**
 * Why the package refused a socket: `origin` (an Engine.IO request from a foreign
 * origin, refused before any session is read), `unauthorized` (at CONNECT: no
 * session, no user, or it ended), `unavailable` (at CONNECT: the store did not answer).
 */
export type RefuseReason = 'origin' | 'unauthorized' | 'unavailable';

/** The hooks of `live.on` (an extension). */
export interface Hooks {
  /** A socket's session data changed (from HTTP, a socket, another process). */
  (event: 'change', listener: (socket: Socket, session: SessionSnapshot) => void): void;
  /** Only a socket's idle deadline moved (activity on HTTP or any socket of the session). */
  (event: 'extend', listener: (socket: Socket, expiresAt: Date) => void): void;
  /**
   * The package refused a socket: `req` is the refused request (the Engine.IO request, or the
   * handshake's at CONNECT); `handle` the session's opaque handle when the handshake loaded one.
   */
  (event: 'refuse', listener: (reason: RefuseReason, req: IncomingMessage, handle: string | null) => void): void;
  /** A socket's session ended: called once per socket, right before it is told `session:ended` and disconnected. */
  (event: 'end', listener: (socket: Socket, reason: EndReason) => void): void;
}

/** An opaque, stable handle for a session: never the cookie's session id. */
export const sessionHandle = (sid: string) => createHash('sha256').update(sid).digest('base64url').slice(0, 22);

/** The session has ended: `update` on its socket rejects with this. */
export class SessionEndedError extends Error {
  constructor(readonly reason: EndReason | 'unknown') {
    super(`the session has ended (${reason})`);
    this.name = 'SessionEndedError';
  }
}

/**
 * A live session for Socket.IO: wrap your express-session store with it, attach
 * it to your Socket.IO server, and every socket reads that same session, live.
 * See the README for the guarantees and their limits.
 */
export function liveSession(options: LiveSessionOptions) {
  validate(options);
  const ttlMs = (options.ttlSeconds ?? 86_400) * 1000;
  const bus = options.bus ?? memoryBus();
  const userFn = options.user ?? ((data: SessionFields) => (data as { passport?: { user?: unknown } }).passport?.user);
  const userOf = (data: SessionFields) => keyOf(userFn(data));
  const log = options.log;
  const events = new EventEmitter();
  /** For the hooks called from inside the handshake and the end of a session: a throwing listener must not break either. */
  const notify = (event: 'refuse' | 'end', ...args: unknown[]) => {
    try {
      events.emit(event, ...args);
    } catch (err) {
      log?.error({ err: String(err) }, `a live.on('${event}') listener threw`);
    }
  };

  const store = new LiveStore({
    base: options.store,
    bus,
    userOf,
    ttlMs,
    anonymousTtlMs: Math.min((options.anonymousTtlSeconds ?? ttlMs / 1000) * 1000, ttlMs),
    touchEveryMs: (options.touchEverySeconds ?? 60) * 1000,
    log,
  });
  const views = new LiveViews({
    store,
    bus,
    userOf,
    log,
    onChange: (view) => {
      for (const member of view.members) events.emit('change', member, view.snapshot);
    },
    onExtend: (view) => {
      for (const member of view.members) events.emit('extend', member, new Date(view.meta!.exp));
    },
    onEnd: (view, reason) => {
      for (const member of view.members) notify('end', member, reason);
    },
  });
  const origins: OriginPolicy = originPolicy(options.origins ?? [], options.trustProxy ?? false);

  /** The view of an admitted or connected socket, while its session is live. */
  const viewOf = (socket: Socket) => {
    const view = viewSlot(socket)[VIEW];
    return view?.live ? view : undefined;
  };

  /** The session id of the handshake, if it loaded a stored session (a new one has no user). */
  function sidOf(socket: Socket): string | null {
    // Its sockets in every namespace share the connection's handshake.
    const slot = sidSlot(socket);
    let sid = slot[HANDSHAKE_SID];
    if (sid === undefined) {
      const req = socket.request as HandshakeRequest;
      sid = req.session && req.sessionID && store.metaOf(req.session) ? req.sessionID : null;
      slot[HANDSHAKE_SID] = sid;
    }
    return sid;
  }

  type Next = (err?: Error) => void;

  /**
   * The Socket.IO CONNECT, which may come well after the Engine.IO handshake that
   * loaded the session: the session is checked as it is now, so one that ended in
   * between never connects. Answered at once when the session's view here vouches for
   * it (another socket of the session keeps it current), without a promise or a turn of
   * the event loop; otherwise once the store has been read.
   */
  function admit(socket: Socket, next: Next): void {
    let sid: string | null;
    let now: LiveView | null | undefined;
    try {
      sid = sidOf(socket);
      now = sid ? views.admitNow(sid) : null;
    } catch (err) {
      return unavailable(socket, err, next); // as a failed read is
    }
    if (now !== undefined) return admitted(socket, now, next);
    // Only a session id can leave it undecided: its view is not loaded, stale, or being re-read.
    views.admit(sid!).then(
      (view) => admitted(socket, view, next),
      (err: unknown) => unavailable(socket, err, next),
    );
  }

  function admitted(socket: Socket, view: LiveView | null, next: Next) {
    if (!view) {
      refused(socket, 'unauthorized');
      return next(new Error('unauthorized'));
    }
    viewSlot(socket)[VIEW] = view;
    next();
  }

  function unavailable(socket: Socket, err: unknown, next: Next) {
    log?.warn({ err: String(err) }, 'could not check a session at CONNECT; refused the socket');
    refused(socket, 'unavailable');
    next(new Error('unavailable'));
  }

  /** A CONNECT refused: the `refuse` hook, with the handle of the session the handshake loaded (if any). */
  function refused(socket: Socket, reason: RefuseReason) {
    const sid = sidSlot(socket)[HANDSHAKE_SID];
    notify('refuse', reason, socket.request, sid ? sessionHandle(sid) : null);
  }

  function onConnection(socket: Socket) {
    const view = viewSlot(socket)[VIEW];
    // The app's own io.use had the handshake request as it was (e.g. Passport's req.user); now let it go.
    releaseHandshake(socket.request as HandshakeRequest);
    if (!view) return;
    if (!views.join(view, socket)) {
      // Ended between CONNECT and now: the same end as a connected socket gets.
      viewSlot(socket)[VIEW] = undefined;
      const reason = view.ended ?? 'logout';
      notify('end', socket, reason);
      socket.emit('session:ended', { reason });
      socket.disconnect(true);
      return;
    }
    socket.onAny(countActivity);
    socket.on('disconnect', () => views.leave(view, socket));
  }

  /**
   * Client events are session activity. One listener for every socket (Socket.IO calls
   * `onAny` listeners with the socket as `this`, as each event arrives), rather than a
   * `socket.use` middleware per socket: no closure per socket, and no middleware run per event.
   */
  function countActivity(this: Socket) {
    const view = viewSlot(this)[VIEW];
    if (view) views.activity(view);
  }

  const attachedTo = new WeakSet<Server>();

  return {
    /** The store to give express-session: `session({ store: live.store, ... })`. */
    store: store as Store,

    /**
     * Wires a Socket.IO server: the origin policy on every Engine.IO request,
     * the given Express middleware (express-session's, and e.g. passport.session())
     * on each handshake only, and the session check at every CONNECT. Call it before
     * your own io.use, which then sees `live.session(socket)`.
     */
    attach(io: Server, ...middleware: Middleware[]) {
      if (attachedTo.has(io)) throw optionError('attach(io) was called twice for this server');
      if (middleware.length === 0) throw optionError('attach(io, sessionMiddleware, ...) needs express-session\'s middleware');
      for (const mw of middleware) if (typeof mw !== 'function') throw optionError('attach(io, ...middleware): every middleware must be a function');
      // new Server() without an HTTP server has no engine until io.attach(httpServer)/io.listen(port).
      if (!io.engine) throw optionError('attach(io): this Socket.IO server is not bound to an HTTP server yet; call live.attach(io, ...) after io.attach(httpServer) or new Server(httpServer)');
      attachedTo.add(io);
      const handshakeChain = middleware as unknown as EngineMiddleware[];
      /** A session with sockets here, kept current by the bus, needs no store read at another socket's handshake. */
      const current = (sid: string) => views.current(sid);
      /**
       * Runs the handshake middleware in order, as engine.io runs its own: a `next(err)`, a throw or a
       * rejected promise ends the chain with that error, and a second call of a `next` is ignored.
       */
      const runHandshake = (req: IncomingMessage, res: ServerResponse, done: (err?: unknown) => void, i = 0): void => {
        if (i === handshakeChain.length) return done();
        let settled = false;
        const next = (err?: unknown) => {
          if (settled) return;
          settled = true;
          if (err) done(err);
          else runHandshake(req, res, done, i + 1);
        };
        try {
          const result: unknown = store.duringHandshake(current, () => handshakeChain[i]!(req, res, next));
          if (result instanceof Promise) result.catch(next);
        } catch (err) {
          next(err);
        }
      };
      const engine = io.engine as unknown as EngineLike;
      /** The WebSocket server whose `headers` listener was made to keep requests fast (engine.io makes a new one when the HTTP server starts listening). */
      let fastWs: unknown;
      // One engine middleware (engine.io chains each of its own through a promise, on every request): the origin
      // policy on every Engine.IO request, then on a handshake the given middleware.
      io.engine.use(((req, res, next) => {
        // With a middleware, engine.io would turn every upgrade request into a slow object (engine.ts); this request's upgrade comes after it.
        if (engine.ws !== fastWs) {
          fastWs = engine.ws;
          keepUpgradeRequestsFast(engine);
        }
        const verdict = origins.verdict(req);
        if (!origins.isAllowed(verdict)) {
          log?.warn({ origin: req.headers.origin, verdict }, 'refused a socket request from a foreign origin');
          notify('refuse', 'origin', req, null);
          return next(new Error('origin not allowed'));
        }
        if (!isHandshake(req)) return next();
        (req as HandshakeRequest)[HANDSHAKE_RESPONSE] = res;
        runHandshake(req, res, next);
      }) satisfies EngineMiddleware);
      // Every namespace: the main one, any made before (Socket.IO keeps them in _nsps), any made later.
      const check: Parameters<Namespace['use']>[0] = admit;
      const guard = (nsp: Namespace) => {
        nsp.use(check);
        // The check goes first: a dynamic namespace (io.of(/regex/)) copies its parent's middleware into each
        // child before announcing it, and no app middleware may see a socket that is not admitted.
        const fns = (nsp as unknown as { _fns?: unknown[] })._fns;
        if (fns?.at(-1) === check) fns.unshift(fns.pop());
        nsp.on('connection', onConnection);
      };
      const existing = (io as unknown as { _nsps?: Map<string, Namespace> })._nsps;
      for (const nsp of existing?.values() ?? [io.of('/')]) guard(nsp);
      io.on('new_namespace', guard);
    },

    /** This socket's session now (a frozen copy without the cookie; no store round trip), or null once it ended. */
    session(socket: Socket): SessionSnapshot | null {
      return viewOf(socket)?.snapshot ?? null;
    },

    /** Extension: the user of this socket's session (what the `user` option gives), or null once it ended. */
    user(socket: Socket): unknown {
      const view = viewOf(socket);
      return view ? userFn(view.data!) : null;
    },

    /** Extension: when this socket's session ends unless there is activity, or null once it ended. */
    expiresAt(socket: Socket): Date | null {
      const view = viewOf(socket);
      return view ? new Date(view.meta!.exp) : null;
    },

    /**
     * Writes the session from a socket: `fn` changes the draft (it may be async;
     * returning false means no change). Never loses a concurrent write. Rejects
     * with SessionEndedError when the session has ended.
     */
    async update(socket: Socket, fn: (draft: SessionFields) => unknown): Promise<SessionSnapshot> {
      const view = viewSlot(socket)[VIEW];
      if (!view?.live) throw new SessionEndedError(view?.ended ?? 'unknown');
      const record = await store.update(view.sid, fn);
      views.apply(view, record);
      if (!record || !view.live) throw new SessionEndedError(view.ended ?? 'unknown');
      return view.snapshot;
    },

    /** Extension: the opaque handle of a session, from a request (its session) or a socket. */
    handle(of: { sessionID?: string } | Socket): string | null {
      if ('sessionID' in of && typeof of.sessionID === 'string') return sessionHandle(of.sessionID);
      const view = viewSlot(of as Socket)[VIEW];
      return view ? sessionHandle(view.sid) : null;
    },

    /** Extension: a user's live sessions, oldest first. */
    async sessionsOf(user: unknown): Promise<SessionInfo[]> {
      const key = keyOf(user);
      if (key === undefined) return [];
      return (await store.sessionsOf(key)).map(({ sid, data, meta }) => {
        const { cookie: _cookie, ...rest } = data;
        return { handle: sessionHandle(sid), createdAt: new Date(meta.createdAt), lastSeenAt: new Date(meta.seenAt), data: rest as SessionSnapshot };
      });
    },

    /** Extension: ends one session of a user, by handle; its sockets everywhere get `{reason: "revoked"}`. False when none matched. */
    async revoke(user: unknown, handle: string): Promise<boolean> {
      const key = keyOf(user);
      if (key === undefined) return false;
      const target = (await store.sessionsOf(key)).find((s) => sessionHandle(s.sid) === handle);
      if (!target) return false;
      await store.end(target.sid, 'revoked');
      return true;
    },

    /** Extension: ends every session of a user (but the one of `except`, a request or its handle). Resolves to how many ended. */
    async revokeUser(user: unknown, opts: { except?: { sessionID?: string } | string } = {}): Promise<number> {
      const key = keyOf(user);
      if (key === undefined) return 0;
      const keep = typeof opts.except === 'string' ? opts.except : opts.except?.sessionID ? sessionHandle(opts.except.sessionID) : undefined;
      const ending = (await store.sessionsOf(key)).filter((s) => sessionHandle(s.sid) !== keep);
      await Promise.all(ending.map((s) => store.end(s.sid, 'revoked')));
      return ending.length;
    },

    /**
     * Extension: hooks, per socket. `change` (socket, session): its session's data
     * changed (from HTTP, a socket, another process), e.g. to send your own event.
     * `extend` (socket, expiresAt): only its idle deadline moved (activity somewhere).
     * `refuse` (reason, req, handle): the package refused a socket (origin, unauthorized,
     * unavailable), e.g. to count or audit it. `end` (socket, reason): its session ended.
     */
    on: ((event: string, listener: (...args: never[]) => void) => void events.on(event, listener as (...args: unknown[]) => void)) as Hooks,

    /** Extension: the origin policy (the same one the sockets get), for your HTTP routes. */
    origins,

    /** Extension: the bus (for messages of your own, with another `t`). */
    bus,

    /** Extension: how many sessions have sockets on this process. */
    get size() {
      return views.size;
    },

    /** Stops timers and the bus subscription (shutdown); closing the sockets is Socket.IO's io.close(). */
    close() {
      views.close();
    },
  };
}

export type LiveSession = ReturnType<typeof liveSession>;
