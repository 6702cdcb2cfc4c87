import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * One JSON logger. Cookies, authorization headers and passwords are redacted
 * wherever they appear so that a secret never reaches the log.
 */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { pid: process.pid },
    redact: {
      paths: [
        'req.headers.cookie',
        'req.headers.authorization',
        'headers.cookie',
        'password',
        '*.password',
        'passwordHash',
        '*.passwordHash',
        'secret',
        '*.secret',
      ],
      censor: '[redacted]',
    },
  });
}
