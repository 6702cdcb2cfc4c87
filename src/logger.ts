import { createRequire } from 'node:module';
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import type PinoPretty from 'pino-pretty';

export type { Logger };

export type LogFormat = 'json' | 'pretty';

/**
 * JSON lines, unless LOG_FORMAT=pretty (what `npm run dev` sets) and stdout is a
 * terminal: then readable lines. A pipe or a file always gets JSON, so `npm start`
 * and anything that reads the log see one format.
 */
export function logFormat(env: NodeJS.ProcessEnv = process.env, stdout: { isTTY?: boolean } = process.stdout): LogFormat {
  const wanted = env.LOG_FORMAT || 'json';
  if (wanted !== 'json' && wanted !== 'pretty') throw new Error(`LOG_FORMAT: "json" or "pretty", not ${JSON.stringify(wanted)}`);
  return wanted === 'pretty' && stdout.isTTY === true ? 'pretty' : 'json';
}

/** pino-pretty writing to stdout, or undefined where it is not installed (a dev dependency). */
function prettyStream(): DestinationStream | undefined {
  let pretty: typeof PinoPretty;
  try {
    pretty = createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;
  } catch {
    process.stderr.write('LOG_FORMAT=pretty: pino-pretty is not installed (a dev dependency); logging JSON lines\n');
    return undefined;
  }
  // Synchronous, as pino's own stdout is: nothing is lost at process.exit().
  return pretty({ sync: true, colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' });
}

/**
 * One logger. Cookies, authorization headers and passwords are redacted
 * wherever they appear so that a secret never reaches the log (in either format).
 */
export function createLogger(level: string, format: LogFormat = logFormat()): Logger {
  const options: LoggerOptions = {
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
  };
  const stream = format === 'pretty' ? prettyStream() : undefined;
  return stream ? pino(options, stream) : pino(options);
}
