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

const constraints: [boolean, string][] = [
  [PRESENCE_DEAD_AFTER_MS >= 2 * PRESENCE_HEARTBEAT_MS, 'a live process must be able to miss a heartbeat without being swept'],
  [PRESENCE_SWEEP_EVERY_MS < PRESENCE_DEAD_AFTER_MS, 'the sweep runs more often than a process takes to count as dead'],
  [HANDLER_TIMEOUT_MS > SESSION_LOCK_WAIT_MS, 'a handler waiting for a busy session lock gets the lock’s answer, not the watchdog’s'],
  [HANDLER_TIMEOUT_MS + HANDLER_WATCHDOG_TICK_MS < ACK_DEADLINE_MS, 'the watchdog acks before the client gives up'],
  [SHUTDOWN_LIMIT_MS < STOP_PROMISE_MS, 'a stop ends within the time PROTOCOL.md promises'],
];
for (const [holds, why] of constraints) {
  if (!holds) throw new Error(`timings.ts: a constraint does not hold: ${why}`);
}
