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
  /** V8's collections since the probe started, from perf_hooks' `gc` entries. */
  gc: GcTotals;
  /**
   * The event-loop thread's own CPU (user + system, µs; /proc's clock ticks, 10 ms apart),
   * the rest of user + system being V8's and libuv's helper threads (the collector's parallel
   * and concurrent work, the optimizing compiler); absent where /proc is not there.
   */
  mainThread?: number;
}

/**
 * Garbage collections as perf_hooks reports them: each entry's duration is the pause of
 * the event-loop thread (the collector's work on helper threads is not in it). `young`:
 * scavenges; `full`: the atomic pause that ends a mark-compact (its incremental and
 * concurrent marking before it is not counted here); `other`: incremental marking steps
 * and weak-callback processing.
 */
export interface GcTotals {
  young: GcCount;
  full: GcCount;
  other: GcCount;
}

export interface GcCount {
  count: number;
  ms: number;
}

export const noGc = (): GcTotals => ({ young: { count: 0, ms: 0 }, full: { count: 0, ms: 0 }, other: { count: 0, ms: 0 } });

const GC_KINDS = ['young', 'full', 'other'] as const;

/** What `b` counted beyond `a` (the same process, later), or nothing when either predates the count. */
export function gcSpent(a: CpuReport, b: CpuReport): GcTotals {
  const out = noGc();
  if (!a.gc || !b.gc) return out;
  for (const kind of GC_KINDS) out[kind] = { count: b.gc[kind].count - a.gc[kind].count, ms: b.gc[kind].ms - a.gc[kind].ms };
  return out;
}

/** The sum of several processes' collections. */
export function gcSum(list: readonly GcTotals[]): GcTotals {
  const out = noGc();
  for (const g of list) {
    for (const kind of GC_KINDS) {
      out[kind].count += g[kind].count;
      out[kind].ms += g[kind].ms;
    }
  }
  return out;
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
