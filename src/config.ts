import { randomBytes } from 'node:crypto';
import { z } from 'zod';

/** Settings, read once from the environment (PROTOCOL.md "Starting"). */
export interface Config {
  port: number;
  host: string;
  /** Where `GET /metrics` is served, on `host` (`METRICS_PORT`; 0 = any free port); undefined: no metrics at all. */
  metricsPort: number | undefined;
  /** Where every store lives (`REDIS_URL` or `REDIS_CLUSTER_NODES`); undefined: in memory. */
  redis: RedisTarget | undefined;
  /** Key and channel prefix inside Redis (extension: `REDIS_PREFIX`). */
  redisPrefix: string;
  /** First signs, all verify. */
  sessionSecrets: string[];
  sessionSecretGenerated: boolean;
  sessionTtlSeconds: number;
  allowedOrigins: string[];
  trustProxy: boolean | number | string | undefined;
  logLevel: string;
  production: boolean;
  /** Messages kept per room or DM conversation (extension: `MESSAGE_HISTORY_LIMIT`). */
  messageHistoryLimit: number;
  /** Open sockets one user may hold across all processes (`MAX_SOCKETS_PER_USER`). */
  maxSocketsPerUser: number;
  /**
   * How long a user stays online after their last socket left, so that a reload or a
   * reconnect after a deploy announces nothing (extension: `PRESENCE_GRACE_MS`, 0-5000).
   */
  presenceGraceMs: number;
  /** Idle lifetime of a session nobody has logged into (extension: `ANONYMOUS_SESSION_TTL_SECONDS`). */
  anonymousSessionTtlSeconds: number;
  /** Every rate limit (PROTOCOL.md's, overridable with the extension `RATE_LIMITS`). */
  limits: Limits;
}

/** A limit: at most `points` per `durationSeconds`, per key (a user, a username, an address). */
export interface Limit {
  points: number;
  durationSeconds: number;
}

/** The limits of PROTOCOL.md, by the name `RATE_LIMITS` (and the logs) use. */
export const DEFAULT_LIMITS = {
  /** `message:send` + `dm:send` per user. */
  send: { points: 30, durationSeconds: 10 },
  /** `typing` per user. */
  typing: { points: 50, durationSeconds: 10 },
  /** `reaction:toggle` per user. */
  reaction: { points: 30, durationSeconds: 10 },
  /** Rooms created per user. */
  room_create: { points: 20, durationSeconds: 3600 },
  /** Failed logins (and wrong current passwords) per username. */
  login: { points: 10, durationSeconds: 15 * 60 },
  /** Failed logins per client address, across usernames (password spraying). */
  login_ip: { points: 100, durationSeconds: 3600 },
} as const satisfies Record<string, Limit>;

export type LimitName = keyof typeof DEFAULT_LIMITS;
export type Limits = Record<LimitName, Limit>;

/** One Redis, or the seed nodes of a Redis Cluster. */
export type RedisTarget = { url: string } | { clusterNodes: string[] };

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const csv = (value: string | undefined) =>
  (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

const intIn = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .refine((n) => n >= min && n <= max, `must be between ${min} and ${max}`);

const origin = z.string().refine((s) => {
  try {
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.origin === s;
  } catch {
    return false;
  }
}, 'must be an origin like https://example.com (scheme, host, optional port; no path or trailing slash)');

const schema = z.object({
  PORT: intIn(0, 65535).default(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
  METRICS_PORT: intIn(0, 65535).optional(),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must start with redis:// or rediss://')
    .optional(),
  REDIS_CLUSTER_NODES: z.string().optional(),
  REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9:_.-]{1,64}$/, 'must be 1-64 of [A-Za-z0-9:_.-]').default('lsc:'),
  SESSION_SECRET: z.string().optional(),
  SESSION_TTL_SECONDS: intIn(1, 400 * 86400).default(86400),
  ALLOWED_ORIGINS: z.string().optional(),
  TRUST_PROXY: z.string().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  NODE_ENV: z.string().optional(),
  MESSAGE_HISTORY_LIMIT: intIn(100, 10_000_000).default(10_000),
  MAX_SOCKETS_PER_USER: intIn(1, 1_000_000).default(50),
  // At most the 5 s PROTOCOL.md allows between the last socket leaving and the offline announcement.
  PRESENCE_GRACE_MS: intIn(0, 5000).default(5000),
  ANONYMOUS_SESSION_TTL_SECONDS: intIn(1, 400 * 86400).default(3600),
  RATE_LIMITS: z.string().optional(),
});

/**
 * `RATE_LIMITS=typing=200/10,send=60/10`: overrides some of the limits (points per
 * seconds), e.g. for a load test or a trusted deployment; the others keep their defaults.
 */
function parseLimits(value: string | undefined): Limits {
  const limits: Limits = { ...DEFAULT_LIMITS };
  for (const entry of csv(value)) {
    const m = /^([a-z_]+)=(\d{1,9})\/(\d{1,7})$/.exec(entry);
    if (!m) throw new ConfigError(`RATE_LIMITS: "${entry}" is not name=points/seconds (e.g. typing=50/10; at most 9 digits each)`);
    const [, name, points, seconds] = m as unknown as [string, string, string, string];
    if (!Object.hasOwn(DEFAULT_LIMITS, name)) {
      throw new ConfigError(`RATE_LIMITS: unknown limit "${name}" (one of ${Object.keys(DEFAULT_LIMITS).join(', ')})`);
    }
    if (Number(points) < 1 || Number(seconds) < 1) throw new ConfigError(`RATE_LIMITS: "${entry}" needs at least 1 point per 1 second`);
    limits[name as LimitName] = { points: Number(points), durationSeconds: Number(seconds) };
  }
  return limits;
}

/** Express `trust proxy` accepts booleans, hop counts and address lists. */
function parseTrustProxy(value: string | undefined): Config['trustProxy'] {
  if (value === undefined || value === '') return undefined;
  if (value === 'true') return true;
  if (value === 'false') return false;
  if (/^\d+$/.test(value)) return Number(value);
  return value;
}

/**
 * Parse and validate the environment. Throws ConfigError naming the variable.
 * Empty strings count as unset, as shells and compose files often produce them.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`${String(issue.path[0])}: ${issue.message}`);
  }
  const e = parsed.data;
  const production = e.NODE_ENV === 'production';

  let sessionSecrets = csv(e.SESSION_SECRET);
  const sessionSecretGenerated = sessionSecrets.length === 0;
  if (sessionSecretGenerated) {
    if (production) {
      throw new ConfigError('SESSION_SECRET: required when NODE_ENV=production (comma-separated, first signs, all verify)');
    }
    sessionSecrets = [randomBytes(32).toString('base64url')];
  }
  if (production && sessionSecrets.some((s) => s.length < 16)) {
    throw new ConfigError('SESSION_SECRET: each secret must be at least 16 characters when NODE_ENV=production');
  }

  if (e.METRICS_PORT !== undefined && e.METRICS_PORT !== 0 && e.METRICS_PORT === e.PORT) {
    throw new ConfigError(`METRICS_PORT: must differ from PORT (${e.PORT}): metrics are never served on the public port`);
  }

  const allowedOrigins = csv(e.ALLOWED_ORIGINS);
  const clusterNodes = csv(e.REDIS_CLUSTER_NODES);
  if (clusterNodes.length && e.REDIS_URL) throw new ConfigError('REDIS_CLUSTER_NODES: set this or REDIS_URL, not both');
  for (const node of clusterNodes) {
    if (!/^rediss?:\/\/[^/\s]+(:\d+)?\/?$/.test(node)) {
      throw new ConfigError(`REDIS_CLUSTER_NODES: "${node}" is not a seed URL like redis://host:port (no database: a cluster has only database 0)`);
    }
  }
  const redis: RedisTarget | undefined = clusterNodes.length ? { clusterNodes } : e.REDIS_URL ? { url: e.REDIS_URL } : undefined;
  for (const o of allowedOrigins) {
    const r = origin.safeParse(o);
    if (!r.success) throw new ConfigError(`ALLOWED_ORIGINS: "${o}" ${r.error.issues[0]!.message}`);
  }

  return {
    port: e.PORT,
    host: e.HOST,
    metricsPort: e.METRICS_PORT,
    redis,
    redisPrefix: e.REDIS_PREFIX,
    sessionSecrets,
    sessionSecretGenerated,
    sessionTtlSeconds: e.SESSION_TTL_SECONDS,
    allowedOrigins,
    trustProxy: parseTrustProxy(e.TRUST_PROXY),
    logLevel: e.LOG_LEVEL,
    production,
    messageHistoryLimit: e.MESSAGE_HISTORY_LIMIT,
    maxSocketsPerUser: e.MAX_SOCKETS_PER_USER,
    presenceGraceMs: e.PRESENCE_GRACE_MS,
    // Never longer than a logged-in session's.
    anonymousSessionTtlSeconds: Math.min(e.ANONYMOUS_SESSION_TTL_SECONDS, e.SESSION_TTL_SECONDS),
    limits: parseLimits(e.RATE_LIMITS),
  };
}
