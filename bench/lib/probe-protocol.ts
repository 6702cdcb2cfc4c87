/**
 * The IPC protocol between a benchmark (parent) and bench/heap-probe.ts (child).
 * The probe answers on the child's IPC channel; it never opens a port of its own.
 */

export type ProbeRequest = { id: number } & (
  | { type: 'heap' }
  | { type: 'cpu' }
  | { type: 'stats' }
  /** Starts the V8 sampling profiler (main thread) through the inspector. */
  | { type: 'profile-start' }
  /** Stops it and writes the .cpuprofile to `file`. */
  | { type: 'profile-stop'; file: string }
  /**
   * Starts V8's sampling heap profiler, counting what outlives the young generation:
   * objects a scavenge would free are left out, those promoted to the old generation
   * (alive at the stop, or freed by a full collection since) are in.
   */
  | { type: 'promoted-start' }
  /** Stops it and writes the .heapprofile to `file`. */
  | { type: 'promoted-stop'; file: string }
  /** Starts V8's sampling heap profiler counting every allocation, young garbage included (what the young generation's collections are run by). */
  | { type: 'alloc-start' }
  /** Stops it and writes the .heapprofile to `file`. */
  | { type: 'alloc-stop'; file: string }
  /** Writes a heap snapshot (after full GCs) to `file`. */
  | { type: 'heap-snapshot'; file: string }
  /** Lets the server's held `listen` go ahead (BENCH_HOLD_LISTEN=1); answered once it listens. */
  | { type: 'listen' }
);

export interface HeapReport {
  /** V8 heap in use after full GCs. */
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  rss: number;
}

export interface CpuReport {
  /** process.cpuUsage() in µs since the process started. */
  user: number;
  system: number;
  /** performance.eventLoopUtilization() cumulative values (ms). */
  elu: { idle: number; active: number };
}

export interface StatsReport {
  /** process.getActiveResourcesInfo(), counted by type (Timeout, TCPSocketWrap, ...). */
  resources: Record<string, number>;
  /** Every pending timer, ref'd or not ({Timeout: n}), when the probe runs with BENCH_TRACK_TIMERS=1 (else {}). */
  timers: Record<string, number>;
  /** Listener counts on process. */
  processListeners: number;
  /** What the server under test registered with `setBenchStats` (counts of sockets, sessions, ...). */
  app: Record<string, number>;
}

export type ProbeMessage =
  | { type: 'listening'; port: number }
  /** BENCH_HOLD_LISTEN=1: the server asked to listen and waits for a `listen` request. */
  | { type: 'held' }
  | ({ type: 'reply'; id: number } & ({ ok: true; value: HeapReport | CpuReport | StatsReport | null } | { ok: false; error: string }));

/**
 * The probe writes this, then a CpuReport as JSON, on its own line of stderr as the
 * process exits, so that the CPU a server spent shutting down can still be read.
 */
export const EXIT_CPU_MARK = 'bench-probe-exit-cpu ';

type StatsFn = () => Record<string, number>;
const KEY = Symbol.for('bench.stats');

/** A server under test registers what it can count (only when run under the probe; harmless otherwise). */
export function setBenchStats(fn: StatsFn) {
  (globalThis as unknown as Record<symbol, StatsFn>)[KEY] = fn;
}

export function getBenchStats(): Record<string, number> {
  const fn = (globalThis as unknown as Record<symbol, StatsFn | undefined>)[KEY];
  return fn ? fn() : {};
}

/** Sum of listener counts over every event an emitter has listeners for. */
export function listenerTotal(emitter: { eventNames(): (string | symbol)[]; listenerCount(e: string | symbol): number } | undefined | null): number {
  if (!emitter) return 0;
  return emitter.eventNames().reduce((n, e) => n + emitter.listenerCount(e), 0);
}
