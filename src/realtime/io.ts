import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
import type { Request, RequestHandler } from 'express';
import { Server } from 'socket.io';
import type { Logger } from '../logger.js';
import type { OriginPolicy } from '../security/origin.js';
import type { LiveSession, LiveSessions } from '../session/live-sessions.js';
import type { LiveSessionStore } from '../session/live-store.js';
import type { SessionFields } from '../session/types.js';
import type { AppServer, AppSocket } from './events.js';
import { createDispatcher, type EventHandler } from './handler.js';
import { tolerantParser } from './parser.js';

type EngineMiddleware = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

const HANDSHAKE_RESPONSE = Symbol('handshake response');
type HandshakeRequest = Request & { [HANDSHAKE_RESPONSE]?: ServerResponse };

/** What express-session and Passport hang on a request, and we no longer need once the socket is in. */
const REQUEST_EXTRAS = ['session', 'sessionStore', 'sessionID', 'user', '_passport', '_parsedUrl', '_parsedOriginalUrl'] as const;

/**
 * engine.io keeps an upgrade's response object (and through it the request)
 * alive for the whole connection, and express-session replaced its
 * `end`/`writeHead` with closures over the request: the session, cookie and
 * parsed URL would stay in memory per socket. Once the socket is registered,
 * let all of that go (~3 KB a socket).
 */
function releaseHandshake(req: HandshakeRequest) {
  const res = req[HANDSHAKE_RESPONSE] as unknown as Record<string, unknown> | undefined;
  if (res) {
    delete res.end; // back to the prototype's methods
    delete res.writeHead;
  }
  const bag = req as unknown as Record<string | symbol, unknown>;
  for (const key of REQUEST_EXTRAS) delete bag[key];
  delete bag[HANDSHAKE_RESPONSE];
}

/** Socket.IO's pattern: run a middleware only on the handshake request, not on every poll. */
const onlyForHandshake =
  (mw: RequestHandler): EngineMiddleware =>
  (req, res, next) => {
    const isHandshake = (req as IncomingMessage & { _query?: { sid?: string } })._query?.sid === undefined;
    if (isHandshake) mw(req as Request, res as never, next);
    else next();
  };

/** Why a socket is refused at CONNECT: the `connect_error` message its client sees. */
export type RefusalCode = 'unauthorized' | 'too_many_connections' | 'unavailable' | 'closed';

export class HandshakeRefusal extends Error {
  constructor(readonly code: RefusalCode) {
    super(code);
    this.name = 'HandshakeRefusal';
  }
}

/** Undoes what an admission recorded, for a socket that never connects after all. */
export type Undo = () => void;

export interface RealtimeDeps {
  httpServer: HttpServer;
  originPolicy: OriginPolicy;
  sessionMiddleware: RequestHandler;
  passportSession: RequestHandler;
  sessionStore: LiveSessionStore;
  liveSessions: LiveSessions;
  handlers: readonly EventHandler[];
  adapter?: ((nsp: import('socket.io').Namespace) => import('socket.io-adapter').Adapter) | undefined;
  /**
   * Runs at CONNECT once the session is confirmed live (presence, the socket
   * cap); throws a HandshakeRefusal to refuse the socket.
   */
  admit?: (socket: AppSocket) => Promise<Undo>;
  /** Called once an admitted socket is connected. */
  onConnect?: (socket: AppSocket) => void;
  log: Logger;
}

/**
 * The Socket.IO server on the app's HTTP server. The origin policy runs on every
 * Engine.IO request (polling and upgrade); the session and Passport run on the
 * handshake only; a handshake without a logged-in user gets `unauthorized`.
 */
export function createRealtime(deps: RealtimeDeps): AppServer {
  const { originPolicy, log } = deps;
  const io: AppServer = new Server(deps.httpServer, {
    serveClient: true,
    perMessageDeflate: false,
    maxHttpBufferSize: 64 * 1024,
    parser: tolerantParser,
    ...(deps.adapter && { adapter: deps.adapter }),
    cors: originPolicy.allowed.size ? { origin: [...originPolicy.allowed], credentials: true } : undefined,
  });

  io.engine.use(((req, _res, next) => {
    const verdict = originPolicy.verdict(req);
    if (originPolicy.isAllowed(verdict)) return next();
    log.warn({ origin: req.headers.origin, verdict }, 'refused socket request from a foreign origin');
    next(new Error('origin not allowed'));
  }) satisfies EngineMiddleware);
  io.engine.use(((req, res, next) => {
    const handshake = req as HandshakeRequest & { _query?: { sid?: string } };
    if (handshake._query?.sid === undefined) handshake[HANDSHAKE_RESPONSE] = res;
    next();
  }) satisfies EngineMiddleware);
  io.engine.use(onlyForHandshake(deps.sessionMiddleware));
  io.engine.use(onlyForHandshake(deps.passportSession));

  /**
   * The Socket.IO CONNECT, which may come well after the Engine.IO handshake
   * that loaded the session: the session is checked again here, so one that
   * ended in between never connects (no `session` event, no presence).
   */
  async function admit(socket: AppSocket): Promise<void> {
    const req = socket.request as HandshakeRequest;
    let live: LiveSession | null;
    try {
      const session = req.session;
      const meta = session && deps.sessionStore.metaOf(session);
      if (!req.user || !session || !meta) throw new HandshakeRefusal('unauthorized');
      const snapshot = () => JSON.parse(JSON.stringify(session)) as SessionFields;
      live = await deps.liveSessions.admit(socket, req.sessionID, req.user, snapshot, meta);
    } finally {
      releaseHandshake(req);
    }
    if (!live) throw new HandshakeRefusal('unauthorized');
    socket.data.live = live;
    socket.data.inFlight = 0;
    let undo: Undo | undefined;
    try {
      undo = await deps.admit?.(socket);
    } catch (err) {
      deps.liveSessions.detach(socket, live);
      throw err;
    }
    // Socket.IO drops a socket whose connection closed while the middlewares ran,
    // without a `disconnect` event: nothing recorded for it may stay behind.
    if (socket.conn.readyState !== 'open') {
      undo?.();
      deps.liveSessions.detach(socket, live);
      throw new HandshakeRefusal('closed');
    }
  }

  io.use((socket, next) => {
    admit(socket).then(
      () => next(),
      (err: unknown) => {
        if (!(err instanceof HandshakeRefusal)) log.warn({ err: String(err) }, 'socket admission failed');
        next(new Error(err instanceof HandshakeRefusal ? err.code : 'unavailable'));
      },
    );
  });

  const bindHandlers = createDispatcher(deps.handlers, { io, liveSessions: deps.liveSessions, log });
  io.on('connection', (socket) => {
    const live = socket.data.live;
    // The handshake request (and the session object on it) is not needed any more: ~4 KB a socket.
    (socket.conn as unknown as { request: unknown }).request = null;
    socket.on('disconnect', () => deps.liveSessions.detach(socket, live));
    bindHandlers(socket);
    socket.emit('session', live.view);
    deps.onConnect?.(socket);
  });

  return io;
}
