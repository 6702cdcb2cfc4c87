/**
 * Runs a server module unchanged and answers measurement requests on the IPC
 * channel of its parent benchmark (never on a port, never touching src/):
 *
 *   node --expose-gc --import tsx bench/heap-probe.ts src/server.ts
 *   node --expose-gc --import tsx bench/heap-probe.ts bench/bare-server.ts
 *
 * - `heap`: full GCs, then process.memoryUsage();
 * - `cpu`: process.cpuUsage() and event-loop utilisation;
 * - `stats`: active resources by type, process listeners, and whatever the server
 *   registered with setBenchStats (bench/app-server.ts and bench/bare-server.ts do);
 * - `profile-start` / `profile-stop`: the V8 sampling profiler over a window, written
 *   as a .cpuprofile (run.ts --cpu-prof=DIR profiles only the timed rounds);
 * - `promoted-start` / `promoted-stop`: V8's sampling heap profiler over a window, counting
 *   only what outlives the young generation (what the old generation's collections pay
 *   for), written as a .heapprofile (run.ts --promoted-prof=DIR);
 * - `alloc-start` / `alloc-stop`: the same profiler counting every allocation, what the young
 *   generation frees included (run.ts --alloc-prof=DIR);
 * - `heap-snapshot`: full GCs, then a .heapsnapshot (run.ts --heap-snapshots=DIR).
 * It also reports the port of the first server that starts listening, so the
 * server under test may log at `warn` and still be found. With BENCH_HOLD_LISTEN=1
 * that first `listen` is held (the server boots fully, then waits) until a `listen`
 * request: a replacement can be ready before the port it takes over is free (the
 * reconnect storm of run.ts). As the process exits, its CPU time is written on
 * stderr (EXIT_CPU_MARK), so that a shutdown's CPU can be counted. When the parent
 * goes away (IPC disconnect, e.g. Ctrl-C or a crash), it stops the server with SIGTERM.
 */
import { readFileSync, writeFileSync, writeSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { createRequire } from 'node:module';
import { writeHeapSnapshot } from 'node:v8';
import net from 'node:net';
import { constants as perfConstants, performance, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { EXIT_CPU_MARK, getBenchStats, listenerTotal, noGc, type CpuReport, type ProbeMessage, type ProbeRequest } from './lib/probe-protocol.js';

const target = process.argv[2];
if (!target) {
  console.error('usage: node --expose-gc --import tsx bench/heap-probe.ts <server module> [args...]');
  process.exit(2);
}
// The server sees its usual argv.
process.argv.splice(2, 1);

const send = (m: ProbeMessage) => {
  if (process.connected) process.send?.(m);
};

// ---- announce the listening port (and hold the first listen, on request) ------------
let announced = false;
const originalListen = net.Server.prototype.listen as (...a: unknown[]) => net.Server;
/** BENCH_HOLD_LISTEN=1: the first server's listen, waiting for a `listen` request. */
let held: { server: net.Server; args: unknown[] } | undefined;
let holding = process.env.BENCH_HOLD_LISTEN === '1';
net.Server.prototype.listen = function listen(this: net.Server, ...args: unknown[]) {
  this.once('listening', () => {
    const address = this.address();
    if (announced || !address || typeof address === 'string') return;
    announced = true;
    send({ type: 'listening', port: address.port });
  });
  if (holding) {
    holding = false;
    held = { server: this, args };
    send({ type: 'held' });
    return this;
  }
  return originalListen.apply(this, args);
} as typeof net.Server.prototype.listen;

/** Makes the held listen call; resolves once the server listens (rejects on its `error`). */
function releaseListen(): Promise<null> {
  const h = held;
  if (!h) return Promise.reject(new Error('no listen is held (BENCH_HOLD_LISTEN=1, once)'));
  held = undefined;
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => {
      h.server.off('listening', onListening);
      reject(err);
    };
    const onListening = () => {
      h.server.off('error', onError);
      resolve(null);
    };
    h.server.once('listening', onListening);
    h.server.once('error', onError);
    originalListen.apply(h.server, h.args);
  });
}

// ---- every timer, unref'd ones too (opt-in: BENCH_TRACK_TIMERS=1 with --expose-internals) ----
// process.getActiveResourcesInfo() lists only timers that keep the loop alive, and
// the project's timers are unref'd. Node's own timer lists hold every pending
// timer; reading them costs nothing while the server runs (unlike async_hooks).
type TimerList = { _idleNext: unknown };
let timerLists: Record<string, TimerList> | undefined;
if (process.env.BENCH_TRACK_TIMERS === '1') {
  timerLists = (createRequire(import.meta.url)('internal/timers') as { timerListMap: Record<string, TimerList> }).timerListMap;
}

function countTimers(): Record<string, number> {
  if (!timerLists) return {};
  const counts: Record<string, number> = { Timeout: 0 };
  for (const [ms, list] of Object.entries(timerLists)) {
    for (let t = list._idleNext as TimerList | undefined; t && t !== list; t = t._idleNext as TimerList) {
      counts.Timeout!++;
      counts[`${ms} ms`] = (counts[`${ms} ms`] ?? 0) + 1;
    }
  }
  return counts;
}

// ---- measurements ---------------------------------------------------------------
const gc = (globalThis as { gc?: () => void }).gc;
const tick = () => new Promise((r) => setImmediate(r));

async function fullGc() {
  if (!gc) throw new Error('run the probe with --expose-gc');
  // Several passes with turns of the loop between, so finalizers and weak
  // references released by one pass are collected by the next.
  for (let i = 0; i < 4; i++) {
    gc();
    await tick();
  }
}

function countResources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
  return counts;
}

/** Every collection since the start, by kind (perf_hooks' `gc` entries: one per pause of the event-loop thread). */
const gcTotals = noGc();
const countGc = (entries: PerformanceEntry[]) => {
  for (const e of entries) {
    const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind;
    const slot = kind === perfConstants.NODE_PERFORMANCE_GC_MINOR ? gcTotals.young : kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR ? gcTotals.full : gcTotals.other;
    slot.count++;
    slot.ms += e.duration;
  }
};
const gcObserver = new PerformanceObserver((list) => countGc(list.getEntries()));
gcObserver.observe({ entryTypes: ['gc'] });

/** The event-loop thread's CPU (its /proc task is the process's own id), µs; undefined without /proc. */
const TICK_US = 10_000; // USER_HZ is 100 on Linux
function mainThreadUs(): number | undefined {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces), from the state (field 3): utime is field 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_US;
  } catch {
    return undefined;
  }
}

function cpuReport(): CpuReport {
  const c = process.cpuUsage();
  const elu = performance.eventLoopUtilization();
  // Entries not yet delivered to the observer (it is called later, in a turn of its own) are counted now.
  countGc(gcObserver.takeRecords());
  const main = mainThreadUs();
  return { user: c.user, system: c.system, elu: { idle: elu.idle, active: elu.active }, gc: structuredClone(gcTotals), ...(main !== undefined && { mainThread: main }) };
}

// The last CPU report, written synchronously as the process exits (the IPC channel
// cannot be relied on then); the parent reads it from the child's stderr.
process.on('exit', () => {
  try {
    writeSync(2, `\n${EXIT_CPU_MARK}${JSON.stringify(cpuReport())}\n`);
  } catch {
    // stderr is gone: the parent will say the shutdown's CPU is unknown
  }
});

let inspector: Session | undefined;

async function answer(req: ProbeRequest) {
  switch (req.type) {
    case 'heap': {
      await fullGc();
      const m = process.memoryUsage();
      return { heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers, rss: m.rss };
    }
    case 'cpu':
      return cpuReport();
    case 'listen':
      return releaseListen();
    case 'profile-start': {
      if (!inspector) {
        inspector = new Session();
        inspector.connect();
        await inspector.post('Profiler.enable');
        await inspector.post('Profiler.setSamplingInterval', { interval: 200 });
      }
      await inspector.post('Profiler.start');
      return null;
    }
    case 'profile-stop': {
      if (!inspector) throw new Error('the profiler was not started');
      const { profile } = await inspector.post('Profiler.stop');
      writeFileSync(req.file, JSON.stringify(profile));
      return null;
    }
    case 'promoted-start':
    case 'alloc-start': {
      if (!inspector) {
        inspector = new Session();
        inspector.connect();
      }
      await inspector.post('HeapProfiler.enable');
      // promoted: objects a scavenge frees are not sampled (most of what an event allocates); those
      // that survive until promoted are, whether a full collection frees them later or not.
      // alloc: every allocation, what a scavenge frees too (a finer interval: most are small).
      const every = req.type === 'alloc-start';
      await inspector.post('HeapProfiler.startSampling', {
        samplingInterval: every ? 1024 : 4096,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: every,
      });
      return null;
    }
    case 'promoted-stop':
    case 'alloc-stop': {
      if (!inspector) throw new Error('the heap profiler was not started');
      const { profile } = await inspector.post('HeapProfiler.stopSampling');
      writeFileSync(req.file, JSON.stringify(profile));
      return null;
    }
    case 'heap-snapshot': {
      await fullGc();
      writeHeapSnapshot(req.file);
      return null;
    }
    case 'stats':
      return { resources: countResources(), timers: countTimers(), processListeners: listenerTotal(process), app: getBenchStats() };
  }
}

process.on('message', (raw: unknown) => {
  const req = raw as ProbeRequest;
  if (!req || typeof req !== 'object' || typeof req.id !== 'number') return;
  answer(req).then(
    (value) => send({ type: 'reply', id: req.id, ok: true, value }),
    (err: unknown) => send({ type: 'reply', id: req.id, ok: false, error: err instanceof Error ? err.message : String(err) }),
  );
});

// The benchmark is gone: stop the server the way an operator would.
process.on('disconnect', () => {
  process.kill(process.pid, 'SIGTERM');
  setTimeout(() => process.exit(1), 10_000).unref();
});

await import(pathToFileURL(resolve(target)).href);
