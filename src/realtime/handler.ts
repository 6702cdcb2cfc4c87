import type { z } from 'zod';
import type { ChatStore, PresenceStore } from '../chat/ports.js';
import type { User } from '../chat/types.js';
import type { PublicUserFinder } from '../chat/users.js';
import { LimitExceeded, type RateLimits } from '../security/limits.js';
import type { Logger } from '../logger.js';
import { audit } from '../ops/audit.js';
import type { EventMeter, Metrics } from '../ops/metrics.js';
import type { LiveSession } from 'socket.io-live-session';
import type { ChatSession } from '../session/types.js';
import { AppError, isSocketErrorCode, type ErrorMapper, type SocketErrorCode } from '../errors.js';
import { MALFORMED_EVENT } from './parser.js';
import { HANDLER_TIMEOUT_MS, HANDLER_WATCHDOG_TICK_MS } from '../timings.js';
import type { Ack, AckFailure, AppServer, AppSocket, ClientEventName, ClientToServerEvents, SocketData } from './events.js';
import { socketRooms } from './rooms.js';

/** What every handler may use, the same for every event (built once, in realtime/chat.ts). */
export interface ChatServices {
  chat: ChatStore;
  presence: PresenceStore;
  /** Users by name or id, as their public fields. */
  findUser: PublicUserFinder;
  limits: RateLimits;
  live: LiveSession;
  /**
   * Joins the socket to a Socket.IO room once broadcasts to it from other processes
   * reach this one, so that whatever the caller reads next cannot miss one.
   */
  joinHeld(socket: AppSocket, room: string): Promise<void>;
  /** Tells the catch-up after a Redis blip the newest message a joined room has seen (realtime/recovery.ts). */
  caughtUp(room: string, conversation: string, lastId: string | undefined): void;
}

/** What a handler may use. Identity comes from the live session, never from the payload. */
export interface EventContext extends ChatServices {
  socket: AppSocket;
  io: AppServer;
  /** The socket's session as the event was admitted (live: no store read). */
  session: ChatSession;
  user: User;
  log: Logger;
}

/** What an event's acknowledgement carries on success, read off the events map (events.ts). */
export type AckData<E extends ClientEventName> = Parameters<ClientToServerEvents[E]>[1] extends Ack<infer T> ? T : never;

/** One client event: its name, its payload schema and its handler, tied together by the events map. */
export interface EventHandler<E extends ClientEventName, S extends z.ZodType = z.ZodType> {
  event: E;
  schema: S;
  /**
   * Answers the event: a promise, or the answer itself when the handler had nothing
   * to wait for (typing on a lease point: acked in the same tick, no promise). A throw
   * is a failure either way.
   */
  handle(input: z.output<S>, ctx: EventContext): AckData<E> | Promise<AckData<E>>;
}

/**
 * Declares one event's handler. The event name picks its acknowledgement type
 * from the events map, so a handler that answers the wrong shape, or a schema
 * and handler that disagree, do not compile.
 */
export const defineHandler = <E extends ClientEventName, S extends z.ZodType>(h: EventHandler<E, S>): EventHandler<E, S> => h;

/** Every client event's handler, keyed by event: one missing, extra or filed under another name does not compile. */
export type HandlerTable = { [E in ClientEventName]: EventHandler<E, z.ZodType> };

/**
 * Sending, typing and reacting need the socket to have joined the room first. Answers the
 * room's Socket.IO room, for the broadcast that follows: one name built (and hashed) per event.
 */
export function requireJoined(ctx: EventContext, roomId: string): string {
  const room = socketRooms.room(roomId);
  if (!ctx.socket.rooms.has(room)) throw new AppError('forbidden', `join room ${roomId} first`);
  return room;
}

/**
 * Throws `unauthorized` when the session ended while this event was being
 * handled (the bus told this process after the event was admitted): handlers
 * call it right before they store or send anything, so nothing is written on
 * behalf of a session that is over.
 */
export function requireLive(ctx: EventContext): void {
  if (!ctx.live.session(ctx.socket)) throw new AppError('unauthorized', 'session ended');
}

/** Events a socket may have in flight (sent, not yet acknowledged); beyond that an event is refused at once. */
const MAX_IN_FLIGHT = 32;
/** A socket's `rate_limited` audit lines are written at most this often. */
const LIMITED_AUDIT_EVERY_MS = 1000;


export function failure(code: SocketErrorCode, message: string): AckFailure {
  return { ok: false, error: { code, message } };
}

/** Any error as an acknowledgement a client may see; codes outside the socket set (errors.ts) become `internal`. */
function toFailure(toAppError: ErrorMapper, err: unknown): AckFailure {
  const e = toAppError(err);
  if (isSocketErrorCode(e.code)) return failure(e.code, e.message);
  return failure('internal', e.code === 'unavailable' ? 'service unavailable, try again' : 'internal error');
}

type AnyAck = (result: unknown) => void;
type AckResult = { ok: true } | AckFailure;
/** A handler of some event, as the dispatcher holds it (its input type is its own schema's). */
type AnyHandler = { schema: z.ZodType; handle(input: never, ctx: EventContext): object | Promise<object> };
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
  services: ChatServices;
  log: Logger;
  /** What a client may see of an error (errors.ts, with the stores' "unavailable"). */
  toAppError: ErrorMapper;
  /** socket_events_total and socket_event_duration_seconds, one meter per event. */
  metrics: Metrics;
  /** A socket's client address (as req.ip gives it), for the audit line of a refused event. */
  addressOf: (socket: AppSocket) => string | undefined;
}

/**
 * Acks `internal` for any handler still running after HANDLER_TIMEOUT_MS (e.g. a
 * backend that hangs). One coarse interval for all events in flight, instead of
 * a timer per event: the timeout is for the rare hang, not the hot path.
 */
class Watchdog {
  private readonly inflight = new Set<InFlight>();
  private timer: NodeJS.Timeout | undefined;

  track(job: InFlight) {
    this.inflight.add(job);
    if (!this.timer) {
      this.timer = setInterval(() => this.sweep(), HANDLER_WATCHDOG_TICK_MS);
      this.timer.unref();
    }
  }

  forget(job: InFlight) {
    this.inflight.delete(job);
  }

  private sweep() {
    const now = Date.now();
    for (const job of this.inflight) {
      if (now - job.started >= HANDLER_TIMEOUT_MS) job.finish(failure('internal', 'timed out, try again'), 'socket event timed out');
    }
    if (this.inflight.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}

/**
 * One event whose handler is waiting for something: acked (and metered) exactly once,
 * by the handler or by the watchdog, and counted in flight until then. (A handler that
 * answers at once is acked there and then, and never becomes one.)
 */
class InFlight {
  readonly started = Date.now();
  private done = false;

  constructor(
    private readonly ack: AnyAck,
    private readonly watchdog: Watchdog,
    private readonly counter: SocketData,
    private readonly meter: EventMeter,
    private readonly event: string,
    private readonly log: Logger,
    /** From the meter's `start()`, taken before the handler ran. */
    private readonly timed: number,
  ) {
    watchdog.track(this);
    counter.inFlight += 1;
  }

  finish(result: AckResult, internalMessage?: string, err?: unknown) {
    if (this.done) return;
    this.done = true;
    this.counter.inFlight -= 1;
    this.watchdog.forget(this);
    if (internalMessage) this.log.error({ err, event: this.event, user: this.counter.user.username }, internalMessage);
    this.meter.done(result.ok ? 'ok' : result.error.code, this.timed);
    this.ack(result);
  }
}

/**
 * Returns the binder for sockets: one dispatcher per socket (a single `onAny`
 * listener rather than one listener per event) that checks the session is
 * still live, counts the event as activity, validates the payload, runs the
 * handler and always acks once. Nothing here throws into Socket.IO.
 */
export function createDispatcher(handlers: HandlerTable, deps: BindDeps) {
  const { metrics, log, services } = deps;
  // Each event's meter is made once, here: the hot path only bumps numbers (ops/metrics.ts).
  const byEvent = new Map<string, { h: AnyHandler; meter: EventMeter }>(
    Object.values(handlers).map((h) => [h.event, { h, meter: metrics.event(h.event) }]),
  );
  // Names outside the events map share one label, so a client cannot make series up.
  const unknownMeter = metrics.event('unknown');
  const malformedMeter = metrics.event('malformed');
  const watchdog = new Watchdog();

  /** Acks a refusal decided before the handler ran (counted, not timed). */
  const refuse = (meter: EventMeter, ack: AnyAck, result: AckFailure) => {
    meter.done(result.error.code, 0);
    ack(result);
  };

  /**
   * The audit line of an event a rate limit refused: at most one per socket a second,
   * since a client can send thousands a second (rate_limited_total counts them all).
   */
  const limited = (socket: AppSocket, event: string, limit: string) => {
    const now = Date.now();
    if (now - (socket.data.limitedAuditAt ?? 0) < LIMITED_AUDIT_EVERY_MS) return;
    socket.data.limitedAuditAt = now;
    audit(log, 'rate_limited', {
      user: socket.data.user?.username,
      ip: deps.addressOf(socket),
      session: deps.services.live.handle(socket),
      limit,
      event,
    });
  };

  function dispatch(socket: AppSocket, event: string, args: unknown[]) {
    const { payload, ack } = splitArgs(args);
    const entry = byEvent.get(event);
    if (!entry) {
      const malformed = event === MALFORMED_EVENT;
      return refuse(malformed ? malformedMeter : unknownMeter, ack, failure('bad_request', malformed ? 'malformed payload' : 'unknown event'));
    }
    const { h, meter } = entry;
    // (The live session counts every client event as activity itself.)
    const session = deps.services.live.session(socket);
    if (!session) return refuse(meter, ack, failure('unauthorized', 'session ended'));
    const user = socket.data.user;
    if (socket.data.inFlight >= MAX_IN_FLIGHT) {
      metrics.rateLimited('in_flight');
      limited(socket, event, 'in_flight');
      return refuse(meter, ack, failure('rate_limited', `at most ${MAX_IN_FLIGHT} events in flight per socket`));
    }
    const parsed = h.schema.safeParse(payload);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return refuse(meter, ack, failure('bad_request', `${issue?.path.join('.') || 'payload'}: ${issue?.message ?? 'invalid'}`));
    }
    const timed = meter.start();
    // Written out, not spread from `services`: one object shape for every event (a spread here cost ~10% of an event's CPU).
    const ctx: EventContext = {
      chat: services.chat,
      presence: services.presence,
      findUser: services.findUser,
      limits: services.limits,
      live: services.live,
      joinHeld: services.joinHeld,
      caughtUp: services.caughtUp,
      socket,
      io: deps.io,
      session,
      user,
      log,
    };
    let running: object | Promise<object>;
    try {
      running = h.handle(parsed.data as never, ctx); // the handler's own schema produced it
    } catch (err) {
      running = Promise.reject(err);
    }
    if (!(running instanceof Promise)) {
      // Answered at once: nothing can come between the handler and its ack, so it is not tracked.
      meter.done('ok', timed);
      ack({ ok: true, ...running });
      return;
    }
    const job = new InFlight(ack, watchdog, socket.data, meter, event, log, timed);
    running.then(
      (result) => job.finish({ ok: true, ...result }),
      (err: unknown) => {
        if (err instanceof LimitExceeded) limited(socket, event, err.limit);
        const failed = toFailure(deps.toAppError, err);
        job.finish(failed, failed.error.code === 'internal' ? 'socket event failed' : undefined, err);
      },
    );
  }

  // One listener for every socket: Socket.IO calls `onAny` listeners with the socket as `this`.
  function onEvent(this: AppSocket, event: string, ...args: unknown[]) {
    dispatch(this, event, args);
  }
  return (socket: AppSocket) => socket.onAny(onEvent);
}
