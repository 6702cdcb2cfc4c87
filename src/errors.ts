/** Error codes shared by HTTP and Socket.IO (PROTOCOL.md). */
export type ErrorCode =
  | 'bad_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'rate_limited'
  | 'internal'
  | 'csrf'
  | 'invalid_credentials'
  | 'username_taken'
  | 'room_exists'
  | 'unavailable'
  | 'not_ready';

const STATUS: Record<ErrorCode, number> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  rate_limited: 429,
  internal: 500,
  csrf: 403,
  invalid_credentials: 401,
  username_taken: 409,
  room_exists: 409,
  unavailable: 503,
  not_ready: 503,
};

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
    this.status = STATUS[code];
  }
}

export const isAppError = (err: unknown): err is AppError => err instanceof AppError;
