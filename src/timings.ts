/**
 * The timings that depend on each other, in one place, with the constraint
 * between them written next to them and checked when this module loads (a
 * change that breaks one fails every test at once, not one day in production).
 * Settings a user may change (SESSION_TTL_SECONDS, PRESENCE_GRACE_MS, the limits)
 * are in config.ts; the timings private to one module stay in it.
 */

/** Presence: how often a process tells Redis it is alive. */
export const PRESENCE_HEARTBEAT_MS = 5_000;
/**
 * Presence: a process whose last heartbeat is older than this counts as dead, and
 * the others settle what it left. Three heartbeats: a process that misses one or two
 * (a GC pause, a slow Redis) is not swept while it lives.
 */
export const PRESENCE_DEAD_AFTER_MS = 3 * PRESENCE_HEARTBEAT_MS;
/** Presence: how often a process looks for dead ones. Shorter than the dead-after time, so one is found within both added. */
export const PRESENCE_SWEEP_EVERY_MS = 10_000;

/**
 * How long a process counts as serving a chat room (sockets in it) after it last said
 * so; it says so again every third of it (store/redis/room-servers.ts). A process that
 * died is still counted this long: posts to its rooms are published meanwhile.
 */
export const ROOM_SERVER_LEASE_MS = 30_000;

/**
 * A session write waits at most this long for the session's write lock on Redis
 * (another process's write of the same session), then fails with "busy".
 */
export const SESSION_LOCK_WAIT_MS = 3_000;
/**
 * A socket event that has not answered by then is acked `internal` (a backend that
 * hangs). Longer than the lock wait, so a handler stuck behind a busy lock gets the
 * lock's own answer; shorter than ACK_DEADLINE_MS with a watchdog tick to spare.
 */
export const HANDLER_TIMEOUT_MS = 4_000;
/** How often the watchdog looks for handlers over HANDLER_TIMEOUT_MS. */
export const HANDLER_WATCHDOG_TICK_MS = 250;
/** The clients of this repo (the browser's and the tests') give up waiting for an ack after this. */
const ACK_DEADLINE_MS = 5_000;

/** A graceful stop that takes longer exits anyway: within the 10 s PROTOCOL.md promises (and Docker's default stop timeout). */
export const SHUTDOWN_LIMIT_MS = 9_000;
const STOP_PROMISE_MS = 10_000;

/** A readiness probe (`/readyz`) that waits longer for the stores answers "not ready". */
export const READY_PROBE_TIMEOUT_MS = 1_000;

/** The timings the constraints below relate. */
export interface Timings {
  presenceHeartbeatMs: number;
  presenceDeadAfterMs: number;
  presenceSweepEveryMs: number;
  sessionLockWaitMs: number;
  handlerTimeoutMs: number;
  handlerWatchdogTickMs: number;
  ackDeadlineMs: number;
  shutdownLimitMs: number;
  stopPromiseMs: number;
}

/** The constraints `t` breaks, in words (none: an empty list). */
export function brokenConstraints(t: Timings): string[] {
  const constraints: [boolean, string][] = [
    [t.presenceDeadAfterMs >= 2 * t.presenceHeartbeatMs, 'a live process must be able to miss a heartbeat without being swept'],
    [t.presenceSweepEveryMs < t.presenceDeadAfterMs, 'the sweep runs more often than a process takes to count as dead'],
    [t.handlerTimeoutMs > t.sessionLockWaitMs, 'a handler waiting for a busy session lock gets the lock’s answer, not the watchdog’s'],
    [t.handlerTimeoutMs + t.handlerWatchdogTickMs < t.ackDeadlineMs, 'the watchdog acks before the client gives up'],
    [t.shutdownLimitMs < t.stopPromiseMs, 'a stop ends within the time PROTOCOL.md promises'],
  ];
  return constraints.filter(([holds]) => !holds).map(([, why]) => why);
}

export const TIMINGS: Timings = {
  presenceHeartbeatMs: PRESENCE_HEARTBEAT_MS,
  presenceDeadAfterMs: PRESENCE_DEAD_AFTER_MS,
  presenceSweepEveryMs: PRESENCE_SWEEP_EVERY_MS,
  sessionLockWaitMs: SESSION_LOCK_WAIT_MS,
  handlerTimeoutMs: HANDLER_TIMEOUT_MS,
  handlerWatchdogTickMs: HANDLER_WATCHDOG_TICK_MS,
  ackDeadlineMs: ACK_DEADLINE_MS,
  shutdownLimitMs: SHUTDOWN_LIMIT_MS,
  stopPromiseMs: STOP_PROMISE_MS,
};

const broken = brokenConstraints(TIMINGS);
if (broken.length) throw new Error(`timings.ts: a constraint does not hold: ${broken.join('; ')}`);
