/**
 * Servers under test as child processes (their own event loop, never the load
 * generator's), each wrapped by bench/heap-probe.ts for heap/CPU/stats over IPC.
 * Every child is registered so that it is stopped on exit, on Ctrl-C and on errors.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXIT_CPU_MARK, type CpuReport, type HeapReport, type ProbeMessage, type ProbeRequest, type StatsReport } from './probe-protocol.js';
import { progressDone, withTimeout } from './util.js';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface ServerChild {
  name: string;
  url: string;
  port: number;
  child: ChildProcess;
  heap(): Promise<HeapReport>;
  /** CPU so far; once the process has exited, what it had spent when it exited (from the probe's last line). */
  cpu(): Promise<CpuReport>;
  stats(): Promise<StatsReport>;
  profileStart(): Promise<void>;
  profileStop(file: string): Promise<void>;
  /** The sampling heap profiler, counting what outlives the young generation (probe-protocol.ts). */
  promotedStart(): Promise<void>;
  promotedStop(file: string): Promise<void>;
  allocStart(): Promise<void>;
  allocStop(file: string): Promise<void>;
  heapSnapshot(file: string): Promise<void>;
  output(): string;
  /** Started with `holdListen`: lets it listen now; resolves once it does. Otherwise resolves at once. */
  listen(): Promise<void>;
  /** Whether the process is still running. */
  running(): boolean;
  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. Resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>;
}

export interface SpawnOptions {
  name: string;
  /** The server module, relative to the repository root (src/server.ts, bench/bare-server.ts, ...). */
  entry: string;
  env: Record<string, string>;
  startTimeoutMs?: number;
  /** Extra node flags (e.g. --expose-internals). */
  nodeFlags?: string[];
  /**
   * Boot fully, but hold the server's listen until `listen()` (the probe's
   * BENCH_HOLD_LISTEN): a replacement that takes over a port (env.PORT, required)
   * the moment it is free. The spawn resolves once the server is ready to listen.
   */
  holdListen?: boolean;
  /** A command the server runs under, with its arguments (e.g. valgrind's): it is given node and its arguments after them. */
  wrap?: readonly string[];
}

const children = new Set<ServerChild>();
const cleanups: Array<() => Promise<void>> = [];

/** Registers something to undo on exit or interrupt (e.g. deleting the run's Redis keys). */
export function onCleanup(fn: () => Promise<void>) {
  cleanups.push(fn);
}

/** A fresh directory under the system's temporary one (`<prefix>XXXXXX`), deleted with the rest at exit or interrupt. */
export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onCleanup(async () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

let installed = false;
let interrupted = false;

/** Ctrl-C / SIGTERM: stop every child, run cleanups, exit 130. A second Ctrl-C exits at once. */
export function installCleanup() {
  if (installed) return;
  installed = true;
  let firstAt = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) {
      // tsx relays the terminal's Ctrl-C, so one press can arrive twice: only a
      // second press a moment later means "stop now, skip the cleanup".
      if (Date.now() - firstAt < 1500) return;
      for (const c of children) c.child.kill('SIGKILL');
      process.exit(130);
    }
    interrupted = true;
    firstAt = Date.now();
    process.stderr.write(`\n${signal}: stopping servers...\n`);
    void shutdownAll().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', () => {
    for (const c of children) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
  });
}

export function wasInterrupted() {
  return interrupted;
}

/**
 * Runs a benchmark's main function and exits with its code (0 when it returns
 * nothing): stops every child and runs cleanups first, whether it finished,
 * failed (exit 1, with the stack) or was interrupted (exit 130).
 */
/** A mistake in how the benchmark was started (not a failure of it): reported in one line, without a stack. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export function runMain(name: string, main: () => Promise<number | void>) {
  main()
    .then(async (code) => {
      progressDone();
      await shutdownAll();
      process.exit(code ?? 0);
    })
    .catch(async (err: unknown) => {
      progressDone();
      if (err instanceof UsageError) console.error(`${name}: ${err.message}`);
      else if (!wasInterrupted()) console.error(`${name} failed: ${err instanceof Error ? err.stack : String(err)}`);
      await shutdownAll();
      process.exit(wasInterrupted() ? 130 : 1);
    });
}

let shuttingDown: Promise<void> | undefined;

/** Stops all children and runs cleanups; bounded in time. Every caller waits for the same shutdown. */
export function shutdownAll(): Promise<void> {
  shuttingDown ??= (async () => {
    await Promise.allSettled([...children].map((c) => c.stop()));
    for (const fn of cleanups.splice(0)) {
      await withTimeout(fn(), 15_000, 'cleanup').catch((e: unknown) => process.stderr.write(`cleanup failed: ${String(e)}\n`));
    }
  })();
  return shuttingDown;
}

export async function spawnServer(o: SpawnOptions): Promise<ServerChild> {
  // BENCH_NODE_FLAGS (environment only): more node flags for every server, bare and project alike (e.g. --trace-gc).
  const nodeArgs = ['--expose-gc', ...(process.env.BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? []), ...(o.nodeFlags ?? [])];
  nodeArgs.push('--import', 'tsx', 'bench/heap-probe.ts', o.entry);
  const heldPort = o.holdListen ? Number(o.env.PORT) : 0;
  if (o.holdListen && !(Number.isInteger(heldPort) && heldPort > 0)) throw new Error(`${o.name}: holdListen needs a fixed env.PORT`);
  const [command, ...commandArgs] = o.wrap?.length ? [...o.wrap, process.execPath, ...nodeArgs] : [process.execPath, ...nodeArgs];
  const child = spawn(command!, commandArgs, {
    cwd: repoRoot,
    env: { ...process.env, HOST: '127.0.0.1', PORT: '0', ...o.env, ...(o.holdListen && { BENCH_HOLD_LISTEN: '1' }) },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let out = '';
  // BENCH_SERVER_LOGS=DIR: every server's output (its warnings and errors: the project logs at `warn`) also goes to DIR/<name>.log.
  const logFile = process.env.BENCH_SERVER_LOGS ? join(process.env.BENCH_SERVER_LOGS, `${o.name}.log`) : undefined;
  const keep = (d: Buffer) => {
    out += d.toString();
    if (out.length > 200_000) out = out.slice(-100_000);
    if (logFile) appendFileSync(logFile, d);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);

  let nextId = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let onListening: ((port: number) => void) | undefined;
  child.on('message', (raw) => {
    const m = raw as ProbeMessage;
    if (m.type === 'listening' || (m.type === 'held' && o.holdListen)) onListening?.(m.type === 'held' ? heldPort : m.port);
    else if (m.type === 'reply') {
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      if (m.ok) p.resolve(m.value);
      else p.reject(new Error(m.error));
    }
  });
  child.on('exit', (code, signal) => {
    for (const p of pending.values()) p.reject(new Error(`${o.name} exited (${code ?? signal})`));
    pending.clear();
  });
  // After 'close' every byte of its stderr is in, the probe's exit line included.
  const closed = once(child, 'close').then(() => undefined, () => undefined);
  const exitCpu = async (): Promise<CpuReport> => {
    await closed;
    const at = out.lastIndexOf(EXIT_CPU_MARK);
    if (at < 0) throw new Error(`${o.name} exited without a CPU report (killed?)`);
    return JSON.parse(out.slice(at + EXIT_CPU_MARK.length).split('\n', 1)[0]!) as CpuReport;
  };
  const running = () => child.exitCode === null && child.signalCode === null;

  type Body = ProbeRequest extends infer R ? (R extends ProbeRequest ? Omit<R, 'id'> : never) : never;
  const request = <T>(body: Body, ms = 30_000): Promise<T> => {
    if (!child.connected) return Promise.reject(new Error(`${o.name} is not running`));
    const id = nextId++;
    const p = new Promise<T>((resolve, reject) => pending.set(id, { resolve: resolve as (v: unknown) => void, reject }));
    child.send({ id, ...body });
    return withTimeout(p, ms, `${o.name} ${body.type} probe`).finally(() => pending.delete(id));
  };

  const port = await withTimeout(
    new Promise<number>((resolve, reject) => {
      onListening = resolve;
      const fromStdout = () => {
        const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      };
      if (!o.holdListen) child.stdout!.on('data', fromStdout);
      child.once('exit', (code) => reject(new Error(`${o.name} exited with ${code} before listening:\n${out}`)));
    }),
    o.startTimeoutMs ?? 30_000,
    `${o.name} start`,
  ).catch((err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });

  const server: ServerChild = {
    name: o.name,
    url: `http://127.0.0.1:${port}`,
    port,
    child,
    heap: () => request<HeapReport>({ type: 'heap' }),
    cpu: () => (running() ? request<CpuReport>({ type: 'cpu' }) : exitCpu()),
    stats: () => request<StatsReport>({ type: 'stats' }),
    profileStart: () => request<void>({ type: 'profile-start' }),
    profileStop: (file: string) => request<void>({ type: 'profile-stop', file }),
    promotedStart: () => request<void>({ type: 'promoted-start' }),
    promotedStop: (file: string) => request<void>({ type: 'promoted-stop', file }),
    allocStart: () => request<void>({ type: 'alloc-start' }),
    allocStop: (file: string) => request<void>({ type: 'alloc-stop', file }),
    heapSnapshot: (file: string) => request<void>({ type: 'heap-snapshot', file }, 120_000),
    output: () => out,
    listen: async () => {
      if (o.holdListen) await request<null>({ type: 'listen' });
    },
    running,
    async stop(graceMs = 10_000) {
      children.delete(server);
      if (!running()) return child.exitCode;
      const exited = once(child, 'exit') as Promise<[number | null]>;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const [code] = await exited;
      clearTimeout(timer);
      return code;
    },
  };
  children.add(server);
  return server;
}

/** CPU time (µs, user+system) a child spent between two reports. */
export const cpuSpent = (a: CpuReport, b: CpuReport) => b.user + b.system - (a.user + a.system);
