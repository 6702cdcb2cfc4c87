/**
 * valgrind's callgrind, for the benchmarks that count instructions instead of timing
 * (`npm run bench:store`, `npm run bench:events`): it counts what a process runs, not
 * how long it took, so the same code and inputs count the same on a busy machine as on
 * a quiet one. A process runs under it from its start (`callgrindCommand`); its counters
 * are zeroed and dumped around the steps to count (`instructionCounter`).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { UsageError } from './children.js';

/** Refuses to go on without `cmd` (run with `args`, e.g. --version), naming where it comes from. */
export function requireTool(cmd: string, args: string[], hint: string) {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  if (r.error) throw new UsageError(`needs ${cmd} (${hint})`);
}

/** valgrind and its callgrind_control, or a UsageError that says how to get them. */
export function requireCallgrind() {
  requireTool('valgrind', ['--version'], 'Debian: apt-get install valgrind');
  requireTool('callgrind_control', ['--version'], "valgrind's; Debian: apt-get install valgrind");
}

/**
 * Where valgrind makes the control pipes (and the shared memory) that callgrind_control
 * talks to the process through: beside `out`, in the run's scratch directory, rather than
 * valgrind's default /tmp/vgdb-pipe. A process killed (SIGKILL) cannot remove them itself;
 * there they go with the directory, where in /tmp they stayed, three files a process.
 */
function vgdbPrefix(out: string): string {
  return `${out}.vgdb-pipe`;
}

/**
 * The command that runs a program under callgrind, its dumps written to `out`.<n>-<thread>
 * (one file a thread: `-01` is the process's first thread, node's event loop or
 * redis-server's command loop): the program and its arguments follow.
 */
export function callgrindCommand(out: string): string[] {
  return ['valgrind', '--tool=callgrind', `--callgrind-out-file=${out}`, `--vgdb-prefix=${vgdbPrefix(out)}`, '--separate-threads=yes'];
}

/** What a process ran over a counted stretch, in instructions. */
export interface Instructions {
  /** Every thread's. */
  total: number;
  /**
   * The first thread's: node's event loop (the JavaScript, and what the collector does on
   * it). The rest is V8's helper threads, whose share depends on valgrind: it runs one
   * thread at a time, so the optimizing compiler's background jobs, queued while the
   * program warmed up, may run in the counted stretch instead.
   */
  main: number;
  /**
   * Of `main`, what ran in V8's garbage collector (collectorInstructions). How much of the
   * collector's work a stretch gets, and on which thread, depends on valgrind more than on
   * the program: the collector's heuristics are partly timed (a program some 50 times slower
   * meets them at other points of its work), and its parallel jobs run on whichever thread
   * valgrind schedules. `main - mainCollector` is the figure that stays put from run to run.
   */
  mainCollector: number;
}

/**
 * V8's garbage collector by its functions' names: the scavenger, the mark-compact
 * collector (marking, incremental and concurrent, evacuation, sweeping), and the heap's
 * bookkeeping for them (remembered sets, pretenuring, the object visitors).
 */
const COLLECTOR =
  /Scaveng|Evacuat|Pretenur|SizeFromMap|ShouldBePromoted|BodyDescriptor|IteratePointers|Heap::|heap::|MarkCompact|Marking|Sweeper|RememberedSet|SlotSet|MemoryChunk|SemiSpace|GCTracer|MinorMC/;

/**
 * The instructions a callgrind dump (`text`, one thread's) counts in the functions that are
 * the collector's (COLLECTOR): their own instructions, not those of what they call (a copy
 * by libc's memcpy, say), so a little less than all of the collector's work.
 */
export function collectorInstructions(text: string): number {
  const names = new Map<string, string>();
  /** Callgrind names a function in full once, then by its number: `fn=(12) name`, later `fn=(12)`. */
  const nameOf = (line: string, prefix: string) => {
    const m = /^\((\d+)\)(?: (.*))?$/.exec(line.slice(prefix.length));
    if (!m) return line.slice(prefix.length);
    if (m[2] !== undefined) names.set(m[1]!, m[2]);
    return names.get(m[1]!) ?? '';
  };
  let inCollector = false;
  let callCost = false;
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('fn=')) {
      inCollector = COLLECTOR.test(nameOf(line, 'fn='));
    } else if (line.startsWith('cfn=')) {
      nameOf(line, 'cfn='); // names the callee (for later `fn=(n)` lines); the cost line after `calls=` is the callee's
    } else if (line.startsWith('calls=')) {
      callCost = true;
    } else if (/^[\d+*-]/.test(line)) {
      // A cost line: position(s), then the instructions.
      if (callCost) callCost = false;
      else if (inCollector) sum += Number(line.split(' ')[1] ?? 0);
    }
  }
  return sum;
}

/**
 * Runs callgrind_control (`-z`: zero the counters, `-d`: dump them) on the process `pid`,
 * started by callgrindCommand(`out`) (whose pipes are under vgdbPrefix(`out`)).
 * valgrind names the pipes it listens on after the process's USER (or LOGNAME) and HOST
 * (or HOSTNAME): `env` gives those of the process where they differ from ours (a server
 * started with HOST=127.0.0.1).
 */
function callgrindControl(flag: '-z' | '-d', pid: number | undefined, out: string, env: Record<string, string>) {
  const r = spawnSync('callgrind_control', [`--vgdb-prefix=${vgdbPrefix(out)}`, flag, String(pid)], { encoding: 'utf8', env: { ...process.env, ...env } });
  // It says "OK" and exits 0 even when it could not reach the process: its complaints are the sign.
  const said = `${r.stdout}${r.stderr}`;
  if (r.status !== 0 || /error|failed/i.test(said)) throw new Error(`callgrind_control ${flag} ${pid} failed: ${said.trim()}`);
}

/**
 * The `summary:` of the callgrind dump `file`: the instructions counted. The process
 * writes its dump when it next runs after callgrind_control asked for it, which
 * callgrind_control does not always wait for: a busy process's file may come later.
 */
async function summaryOf(file: string, deadline: number): Promise<number> {
  for (;;) {
    const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
    const summary = /^summary:\s+(\d+)/m.exec(text);
    if (summary) return Number(summary[1]);
    if (Date.now() > deadline) throw new Error(text ? `no summary line in ${file}` : `callgrind wrote no ${file}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** A dump's text once callgrind has written all of it (its last line is `totals:`; `summary:` is near its top). */
async function wholeDump(file: string, deadline: number): Promise<string> {
  for (;;) {
    const text = readFileSync(file, 'utf8');
    if (/^totals:/m.test(text)) return text;
    if (Date.now() > deadline) throw new Error(`${file} has no totals line: not written whole`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/**
 * The dump `<out>.<n>`, one file a thread, written one after another from `-01` on: once
 * the first has its summary, the others are read when two listings 200 ms apart agree.
 */
async function instructionsOf(out: string, n: number, waitMs = 60_000): Promise<Instructions> {
  const deadline = Date.now() + waitMs;
  const main = await summaryOf(`${out}.${n}-01`, deadline);
  const mainCollector = collectorInstructions(await wholeDump(`${out}.${n}-01`, deadline));
  const prefix = `${basename(out)}.${n}-`;
  const list = () => readdirSync(dirname(out)).filter((name) => name.startsWith(prefix) && name !== `${prefix}01`).sort().join('\n');
  let seen = list();
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    const now = list();
    if (now === seen) break;
    seen = now;
  }
  let total = main;
  for (const name of seen ? seen.split('\n') : []) total += await summaryOf(join(dirname(out), name), deadline);
  return { total, main, mainCollector };
}

/**
 * The instructions of the process `pid`, run by callgrindCommand(`out`) (with `env` set
 * beyond ours: see callgrindControl), over a stretch: `zero()` before it, `dump()` after
 * it answers what it ran in between (every thread's, and its first thread's).
 */
export function instructionCounter(pid: number | undefined, out: string, env: Record<string, string> = {}) {
  let dumps = 0;
  return {
    zero: () => callgrindControl('-z', pid, out, env),
    async dump(): Promise<Instructions> {
      callgrindControl('-d', pid, out, env);
      dumps += 1;
      return instructionsOf(out, dumps);
    },
    /** Its instructions over `fn`. */
    async count(fn: () => Promise<void>): Promise<Instructions> {
      this.zero();
      await fn();
      return this.dump();
    },
  };
}
