import { setTimeout as sleep } from 'node:timers/promises';
import type { z } from 'zod';
import type { User } from '../chat/types.js';
import type { Logger } from '../logger.js';
import type { LiveSession, LiveSessions } from '../session/live-sessions.js';
import { toAppError } from '../web/errors.js';
import { MALFORMED_EVENT } from './parser.js';
import type { AckFailure, AppServer, AppSocket, ClientEventName, SocketErrorCode } from './events.js';

/** What a handler may use. Identity comes from the live session, never from the payload. */
export interface EventContext {
  socket: AppSocket;
  io: AppServer;
  live: LiveSession;
  user: User;
  log: Logger;
}

export interface EventHandler<S extends z.ZodType = z.ZodType, R extends object = object> {
  event: ClientEventName;
  schema: S;
  handle(input: z.infer<S>, ctx: EventContext): Promise<R>;
}

/** Declares one event's handler; keeps the schema and handler types tied together. */
export const defineHandler = <S extends z.ZodType, R extends object>(h: EventHandler<S, R>): EventHandler<S, R> => h;

/** A handler that has not answered by then acks `internal` (e.g. a backend that hangs). */
const HANDLER_TIMEOUT_MS = 5_000;

const SOCKET_CODES = new Set<SocketErrorCode>(['bad_request', 'unauthorized', 'forbidden', 'not_found', 'rate_limited', 'internal']);

export function failure(code: SocketErrorCode, message: string): AckFailure {
  return { ok: false, error: { code, message } };
}

/** Any error as an acknowledgement a client may see; codes outside the socket set become `internal`. */
function toFailure(err: unknown): AckFailure {
  const e = toAppError(err);
  if (SOCKET_CODES.has(e.code as SocketErrorCode)) return failure(e.code as SocketErrorCode, e.message);
  return failure('internal', e.code === 'unavailable' ? 'service unavailable, try again' : 'internal error');
}

type AnyAck = (result: unknown) => void;
const noAck: AnyAck = () => undefined;

/** Splits Socket.IO's argument list into (payload, ack), tolerating a missing payload or ack. */
function splitArgs(args: unknown[]): { payload: unknown; ack: AnyAck } {
  const last = args[args.length - 1];
  const ack = typeof last === 'function' ? (last as AnyAck) : noAck;
  const payload = typeof args[0] === 'function' ? undefined : args[0];
  return { payload, ack };
}

export interface BindDeps {
  io: AppServer;
  liveSessions: LiveSessions;
  log: Logger;
}

/**
 * Binds handlers to a socket: checks the session is still live, counts the
 * event as activity, validates the payload, runs the handler under a timeout
 * and always acks once. Nothing here throws into Socket.IO.
 */
export function bindHandlers(socket: AppSocket, handlers: readonly EventHandler[], deps: BindDeps) {
  const known = new Set<string>(handlers.map((h) => h.event));
  for (const h of handlers) {
    socket.on(h.event, (...args: unknown[]) => {
      const { payload, ack } = splitArgs(args);
      void run(h, payload, socket, deps).then(ack);
    });
  }
  socket.onAny((event: string, ...args: unknown[]) => {
    if (known.has(event)) return;
    splitArgs(args).ack(failure('bad_request', event === MALFORMED_EVENT ? 'malformed payload' : 'unknown event'));
  });
}

async function run(h: EventHandler, payload: unknown, socket: AppSocket, deps: BindDeps): Promise<unknown> {
  const live = socket.data.live;
  if (!live || live.ended) return failure('unauthorized', 'session ended');
  deps.liveSessions.activity(live);
  const parsed = h.schema.safeParse(payload);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return failure('bad_request', `${issue?.path.join('.') || 'payload'}: ${issue?.message ?? 'invalid'}`);
  }
  const ctx: EventContext = { socket, io: deps.io, live, user: live.user, log: deps.log };
  const timeout = new AbortController();
  try {
    const result = await Promise.race([
      h.handle(parsed.data, ctx),
      sleep(HANDLER_TIMEOUT_MS, undefined, { signal: timeout.signal }).then(() => {
        throw new Error(`handler timed out after ${HANDLER_TIMEOUT_MS} ms`);
      }),
    ]);
    return { ok: true, ...result };
  } catch (err) {
    const ack = toFailure(err);
    if (ack.error.code === 'internal') deps.log.error({ err, event: h.event, user: live.user.username }, 'socket event failed');
    return ack;
  } finally {
    timeout.abort();
  }
}
