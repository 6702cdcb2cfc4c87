import { SessionEndedError } from 'socket.io-live-session';

/**
 * The one catalogue of the error codes of PROTOCOL.md: the HTTP status of each,
 * and whether a socket acknowledgement may carry it (a socket ack carries only
 * the six codes PROTOCOL.md lists for events; any other becomes `internal`).
 */
export const ERRORS = {
  bad_request: { status: 400, socket: true },
  unauthorized: { status: 401, socket: true },
  forbidden: { status: 403, socket: true },
  not_found: { status: 404, socket: true },
  rate_limited: { status: 429, socket: true },
  internal: { status: 500, socket: true },
  csrf: { status: 403, socket: false },
  invalid_credentials: { status: 401, socket: false },
  username_taken: { status: 409, socket: false },
  room_exists: { status: 409, socket: false },
  unavailable: { status: 503, socket: false },
  not_ready: { status: 503, socket: false },
} as const satisfies Record<string, { status: number; socket: boolean }>;

export type ErrorCode = keyof typeof ERRORS;
/** The codes a socket acknowledgement may carry. */
export type SocketErrorCode = { [C in ErrorCode]: (typeof ERRORS)[C]['socket'] extends true ? C : never }[ErrorCode];

export const isSocketErrorCode = (code: ErrorCode): code is SocketErrorCode => ERRORS[code].socket;

/** An error meant for the client: it carries a code, a status and a safe message. */
export class AppError extends Error {
  readonly status: number;
  /** The input field at fault, when there is one (forms show the message next to it). */
  field?: string;
  constructor(
    readonly code: ErrorCode,
    message: string = code.replace(/_/g, ' '),
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'AppError';
    this.status = ERRORS[code].status;
  }
}

export const isAppError = (err: unknown): err is AppError => err instanceof AppError;

/** Maps anything thrown to the error a client may see. */
export type ErrorMapper = (err: unknown) => AppError;

/**
 * The mapping of anything thrown (by a handler, a route, a store) to what a client
 * may see. `isUnavailable` is the backing services' own word on which of their
 * errors mean "unreachable right now" (the Redis module supplies it: stores.isUnavailable).
 */
export function errorMapper(isUnavailable: (err: unknown) => boolean): ErrorMapper {
  return (err) => {
    if (isAppError(err)) return err;
    if (err instanceof SessionEndedError) return new AppError('unauthorized', 'session ended');
    const e = err as { type?: string } | undefined;
    if (e?.type === 'entity.too.large') return new AppError('bad_request', 'request body too large');
    if (e?.type === 'entity.parse.failed') return new AppError('bad_request', 'malformed request body');
    if (e?.type === 'charset.unsupported' || e?.type === 'encoding.unsupported') return new AppError('bad_request', 'unsupported encoding');
    if (isUnavailable(err)) return new AppError('unavailable', 'a backing service is unavailable; try again shortly');
    return new AppError('internal', 'internal error');
  };
}
