import type { Server as HttpServer } from 'node:http';
import type { RequestHandler } from 'express';
import { Server } from 'socket.io';
import type { LiveSession } from 'socket.io-live-session';
import type { ErrorMapper } from '../errors.js';
import type { Logger } from '../logger.js';
import { audit, type AddressSource } from '../ops/audit.js';
import type { Metrics } from '../ops/metrics.js';
import type { AppServer, AppSocket } from './events.js';
import { createDispatcher, type ChatServices, type HandlerTable } from './handler.js';
import { tolerantParser } from './parser.js';
import { batchWrites, holdHandshakeResponse } from './write-batching.js';
import { engineReceiver, releaseMessageFrames } from './ws-fragments.js';

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
  live: LiveSession;
  sessionMiddleware: RequestHandler;
  handlers: HandlerTable;
  /** What the handlers use (handler.ts). */
  services: ChatServices;
  /** What a client may see of an error thrown by a handler. */
  toAppError: ErrorMapper;
  adapter?: ((nsp: import('socket.io').Namespace) => import('socket.io-adapter').Adapter) | undefined;
  /**
   * Runs at CONNECT once the live session admitted the socket (the user, presence,
   * the socket cap): answers at once when it had nothing to wait for, else a promise;
   * throws (or rejects with) a HandshakeRefusal to refuse it.
   */
  admit: (socket: AppSocket) => Undo | Promise<Undo>;
  /** Called once an admitted socket is connected. */
  onConnect: (socket: AppSocket) => void;
  /** The client address of a request, as Express's req.ip (TRUST_PROXY) gives it. */
  clientAddress: (req: AddressSource) => string | undefined;
  metrics: Metrics;
  log: Logger;
}

/**
 * What an admitted socket's admission recorded, until it connects: a symbol-keyed property of
 * the socket (a WeakMap entry costs about ten times as much, and this is one a handshake).
 */
const UNDO = Symbol('admission undo');
const undoSlot = (socket: AppSocket) => socket as unknown as { [UNDO]?: Undo | undefined };

/** The refusals that are security events (the others, `unavailable` and `closed`, are only counted). */
const AUDITED: ReadonlySet<string> = new Set(['unauthorized', 'too_many_connections']);

/**
 * The Socket.IO server on the app's HTTP server. The live session (the origin
 * policy on every Engine.IO request, the session on the handshake, the session
 * checked again at CONNECT) comes first; then the chat's admission; then one
 * dispatcher per connected socket. Every handshake is counted by its result
 * (handshakes_total), every refusal that is a security event audited, and every
 * socket whose session ends counted (session_ended_sockets_total).
 */
export function createRealtime(deps: RealtimeDeps): AppServer {
  const { live, log, metrics } = deps;
  const io: AppServer = new Server(deps.httpServer, {
    serveClient: true,
    perMessageDeflate: false,
    maxHttpBufferSize: 64 * 1024,
    parser: tolerantParser,
    ...(deps.adapter && { adapter: deps.adapter }),
    cors: live.origins.allowed.size ? { origin: [...live.origins.allowed], credentials: true } : undefined,
  });

  live.attach(io, deps.sessionMiddleware);
  // Everything sent to a connection in one turn of the event loop leaves in one write, the handshake's response and open packet too (write-batching.ts).
  io.engine.on('initial_headers', holdHandshakeResponse);
  io.engine.on('connection', batchWrites);
  // A message's frames are let go once it is out, so they die young (ws-fragments.ts).
  if (!releaseMessageFrames(engineReceiver())) log.warn('ws Receiver is not what ws-fragments.ts expects: message frames are not released (more old-generation garbage)');
  metrics.gauges({ sockets: () => io.of('/').sockets.size, sessions: () => live.size });
  live.on('end', (_socket, reason) => metrics.sessionEnded(reason));
  // The live session's own refusals: a foreign origin (any Engine.IO request), no live session at CONNECT.
  live.on('refuse', (reason, req, handle) => {
    metrics.handshake(reason);
    const ip = deps.clientAddress(req);
    if (reason === 'origin') audit(log, 'origin_refused', { ip, origin: req.headers.origin, path: '/socket.io/' });
    else if (AUDITED.has(reason)) audit(log, 'handshake_refused', { ip, session: handle, reason });
  });

  /** A socket's client address, from its handshake (kept by Socket.IO): worked out only for the rare audit line. */
  const addressOf = (socket: AppSocket) =>
    deps.clientAddress({ headers: socket.handshake.headers, socket: { remoteAddress: socket.handshake.address } });

  /** A refusal by the chat's admission (the user, the socket cap, a closed connection). */
  const refused = (socket: AppSocket, code: RefusalCode) => {
    metrics.handshake(code);
    if (!AUDITED.has(code)) return;
    const user = socket.data.user?.username;
    audit(log, 'handshake_refused', { user, ip: addressOf(socket), session: live.handle(socket), reason: code });
  };

  type Next = (err?: Error) => void;
  /** The chat admitted the socket (in the CONNECT's tick or later). */
  const admitted = (socket: AppSocket, next: Next, undo: Undo) => {
    // Socket.IO drops a socket whose connection closed while the middlewares ran,
    // without a `disconnect` event: nothing recorded for it may stay behind.
    if (socket.conn.readyState !== 'open') {
      undo();
      refused(socket, 'closed');
      return next(new HandshakeRefusal('closed'));
    }
    undoSlot(socket)[UNDO] = undo;
    next();
  };
  const notAdmitted = (socket: AppSocket, next: Next, err: unknown) => {
    if (!(err instanceof HandshakeRefusal)) log.warn({ err: String(err) }, 'socket admission failed');
    const code = err instanceof HandshakeRefusal ? err.code : 'unavailable';
    refused(socket, code);
    next(new Error(code));
  };
  /** Apart from the middleware, so that an admission answered at once allocates no closure context for these. */
  const awaitAdmission = (socket: AppSocket, next: Next, admission: Promise<Undo>) =>
    admission.then(
      (undo) => admitted(socket, next, undo),
      (err: unknown) => notAdmitted(socket, next, err),
    );
  io.use((socket, next) => {
    let admission: Undo | Promise<Undo>;
    try {
      admission = deps.admit(socket);
    } catch (err) {
      return notAdmitted(socket, next, err);
    }
    if (admission instanceof Promise) awaitAdmission(socket, next, admission);
    else admitted(socket, next, admission);
  });

  const bindHandlers = createDispatcher(deps.handlers, { io, services: deps.services, log, toAppError: deps.toAppError, metrics, addressOf });
  io.on('connection', (socket) => {
    const slot = undoSlot(socket);
    const undo = slot[UNDO];
    slot[UNDO] = undefined;
    // The live session ended it between the admission and now (it was told `session:ended`).
    if (!live.session(socket)) return undo?.();
    metrics.handshake('ok');
    // The handshake request is not needed any more (its headers and socket stay alive with it): ~4 KB a socket.
    (socket.conn as unknown as { request: unknown }).request = null;
    bindHandlers(socket);
    deps.onConnect(socket);
  });

  return io;
}
