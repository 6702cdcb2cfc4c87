/** Small helpers shared by the benchmarks: arguments, statistics, progress, timeouts. */
import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

export { sleep };

// ---- arguments --------------------------------------------------------------

/** `--key=value`, `--flag` (true) and `--no-flag` (false). Positional arguments are refused. */
export function parseArgs(argv: readonly string[]): Map<string, string | boolean> {
  const out = new Map<string, string | boolean>();
  for (const arg of argv) {
    if (arg === '--') continue;
    const m = /^--(no-)?([a-z0-9-]+)(?:=(.*))?$/i.exec(arg);
    if (!m) throw new Error(`unexpected argument ${JSON.stringify(arg)} (use --name=value)`);
    const [, no, name, value] = m;
    out.set(name!, no ? false : value ?? true);
  }
  return out;
}

export class Options {
  private readonly used = new Set<string>();
  constructor(private readonly args: Map<string, string | boolean>) {}

  has(name: string): boolean {
    this.used.add(name);
    return this.args.has(name);
  }

  flag(name: string, fallback: boolean): boolean {
    this.used.add(name);
    const v = this.args.get(name);
    if (v === undefined) return fallback;
    if (typeof v === 'boolean') return v;
    if (v === 'true' || v === '1') return true;
    if (v === 'false' || v === '0') return false;
    throw new Error(`--${name} takes no value (or true/false)`);
  }

  int(name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
    this.used.add(name);
    const env = process.env[`BENCH_${name.toUpperCase().replace(/-/g, '_')}`];
    const v = this.args.get(name) ?? env;
    if (v === undefined) return fallback;
    const n = Number(v);
    if (typeof v !== 'string' || !Number.isFinite(n) || n < min || n > max) {
      throw new Error(`--${name} must be a number between ${min} and ${max}`);
    }
    return n;
  }

  str(name: string, fallback: string): string;
  str(name: string, fallback?: string): string | undefined;
  str(name: string, fallback?: string): string | undefined {
    this.used.add(name);
    const env = process.env[`BENCH_${name.toUpperCase().replace(/-/g, '_')}`];
    const v = this.args.get(name) ?? env;
    if (v === undefined) return fallback;
    if (typeof v !== 'string') throw new Error(`--${name} needs a value`);
    return v;
  }

  list(name: string, fallback: string[]): string[] {
    const v = this.str(name);
    return v === undefined ? fallback : v.split(',').map((s) => s.trim()).filter(Boolean);
  }

  /** Fails on options nobody asked about (typos). */
  assertAllUsed() {
    const unknown = [...this.args.keys()].filter((k) => !this.used.has(k));
    if (unknown.length) throw new Error(`unknown option(s): ${unknown.map((k) => `--${k}`).join(', ')}`);
  }
}

// ---- statistics --------------------------------------------------------------

export function median(values: readonly number[]): number {
  const v = values.filter((x) => Number.isFinite(x));
  if (!v.length) return NaN;
  const s = [...v].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Nearest-rank percentile of an array that is sorted in place. */
export function percentile(sortedOrNot: Float64Array | number[], p: number, alreadySorted = false): number {
  const n = sortedOrNot.length;
  if (!n) return NaN;
  if (!alreadySorted) sortedOrNot.sort((a: number, b: number) => a - b);
  const rank = Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1));
  return sortedOrNot[rank]!;
}

/** A growable array of samples (latencies) without per-sample allocation. */
export class Samples {
  private buf: Float64Array;
  length = 0;
  constructor(capacity = 1024) {
    this.buf = new Float64Array(capacity);
  }
  push(x: number) {
    if (this.length === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.length++] = x;
  }
  sorted(): Float64Array {
    return this.buf.slice(0, this.length).sort();
  }
  pct(p: number): number {
    return percentile(this.sorted(), p, true);
  }
}

// ---- formatting --------------------------------------------------------------

export function fmt(n: number, digits?: number): string {
  if (!Number.isFinite(n)) return '—';
  const d = digits ?? (Math.abs(n) >= 100 ? 0 : Math.abs(n) >= 10 ? 1 : 2);
  return n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
}

export const fmtBytes = (n: number) => (Number.isFinite(n) ? `${fmt(n, 0)} B` : '—');

export function markdownTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

// ---- progress (stderr) --------------------------------------------------------

const tty = process.stderr.isTTY;
let lastLen = 0;

/** One progress line on stderr, rewritten in place on a terminal. */
export function progress(text: string) {
  const stamp = new Date().toISOString().slice(11, 19);
  const line = `[${stamp}] ${text}`;
  if (tty) {
    process.stderr.write(`\r${line.padEnd(lastLen)}`);
    lastLen = line.length;
  } else {
    process.stderr.write(`${line}\n`);
  }
}

/** Ends the in-place progress line so that the next output starts on its own line. */
export function progressDone() {
  if (tty && lastLen) process.stderr.write('\n');
  lastLen = 0;
}

export function warn(text: string) {
  progressDone();
  process.stderr.write(`warning: ${text}\n`);
}

// ---- timeouts -----------------------------------------------------------------

/** Rejects with `what timed out` when `p` has not settled within `ms`. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Polls `check` until it is true or `ms` pass; resolves with the final answer. */
export async function waitUntil(check: () => boolean | Promise<boolean>, ms: number, every = 50): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await sleep(every);
  }
}

/** Runs `fn(i)` for i in [0, n) with at most `concurrency` in flight. */
export async function pool<T>(n: number, concurrency: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      out[i] = await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, Math.max(1, concurrency)) }, worker));
  return out;
}

export const now = () => performance.now();

/** `git describe`-like state of the checkout (commit and count of changed files), for the report. */
export function gitState(cwd: string): string {
  try {
    const rev = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd }).toString().trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd }).toString().split('\n').filter(Boolean).length;
    return dirty ? `${rev} + ${dirty} changed file(s) in src/` : `${rev} (src/ clean)`;
  } catch {
    return 'unknown';
  }
}
