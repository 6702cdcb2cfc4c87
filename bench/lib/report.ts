/** Collects per-round values and renders the final tables. */
import { fmt, markdownTable, median } from './util.js';

export type Better = 'higher' | 'lower';

export interface Target {
  /** Compare the ratio (project/bare), the project's absolute value (median), or every value of both sides. */
  on: 'ratio' | 'absolute' | 'every';
  op: '>=' | '<=';
  value: number;
  unit?: string;
}

export interface Metric {
  name: string;
  unit: string;
  better: Better;
  bare: number[];
  project: number[];
  target?: Target;
  digits?: number;
}

/** Column headers: the baseline side (stored as `bare`), the measured side (`project`), their ratio. */
export interface Columns {
  bare: string;
  project: string;
  ratio: string;
}

export class Results {
  readonly metrics = new Map<string, Metric>();
  readonly notes: string[] = [];

  /** A table of the project against another baseline (1 process against 3) names its columns. */
  constructor(readonly columns: Columns = { bare: 'bare', project: 'project', ratio: 'ratio' }) {}

  metric(name: string, unit: string, better: Better, target?: Target, digits?: number): Metric {
    let m = this.metrics.get(name);
    if (!m) {
      m = { name, unit, better, bare: [], project: [], ...(target && { target }), ...(digits !== undefined && { digits }) };
      this.metrics.set(name, m);
    }
    return m;
  }

  add(name: string, side: 'bare' | 'project', value: number) {
    const m = this.metrics.get(name);
    if (!m) throw new Error(`metric ${name} not declared`);
    m[side].push(value);
  }

  note(text: string) {
    this.notes.push(text);
  }
}

/** The per-round ratios, project/bare, paired by round index. */
export function roundRatios(m: Metric): number[] {
  const n = Math.min(m.bare.length, m.project.length);
  const ratios: number[] = [];
  for (let i = 0; i < n; i++) ratios.push(m.project[i]! / m.bare[i]!);
  return ratios;
}

/** Per-round ratios (paired by round index), then their median. */
export function ratioOf(m: Metric): number {
  const ratios = roundRatios(m);
  return ratios.length ? median(ratios) : NaN;
}

export function verdict(m: Metric): string {
  const t = m.target;
  if (!t) return '';
  const values = t.on === 'every' ? [...m.bare, ...m.project] : [t.on === 'ratio' ? ratioOf(m) : median(m.project)];
  if (!values.length || !values.every(Number.isFinite)) return 'n/a';
  const ok = values.every((v) => (t.op === '>=' ? v >= t.value : v <= t.value));
  return ok ? 'PASS' : 'FAIL';
}

export function targetText(m: Metric): string {
  const t = m.target;
  if (!t) return '—';
  const sym = t.op === '>=' ? '≥' : '≤';
  const what = t.on === 'ratio' ? `${sym} ${t.value}×` : `${t.on === 'every' ? 'every round ' : ''}${sym} ${t.value} ${t.unit ?? m.unit}`;
  return `${what} ${verdict(m)}`;
}

export function renderTable(results: Results, names?: string[]): string {
  const rows: string[][] = [];
  for (const m of results.metrics.values()) {
    if (names && !names.includes(m.name)) continue;
    const b = median(m.bare);
    const p = median(m.project);
    const r = ratioOf(m);
    rows.push([
      `${m.name} (${m.unit})`,
      m.bare.length ? fmt(b, m.digits) : '—',
      m.project.length ? fmt(p, m.digits) : '—',
      Number.isFinite(r) ? `${fmt(r, 2)}×` : '—',
      targetText(m),
    ]);
  }
  const c = results.columns;
  return markdownTable(['metric', c.bare, c.project, c.ratio, 'target'], rows);
}

/**
 * Every round's values, and with two rounds or more on both sides, each round's ratio and
 * how far the baseline's own rounds were apart (largest over smallest): the baseline runs
 * the same code every round, so that spread is the machine's, and a ratio that moves by
 * less than it is not resolved by the run.
 */
export function renderRounds(results: Results): string {
  const lines: string[] = [];
  for (const m of results.metrics.values()) {
    const list = (v: number[]) => (v.length ? v.map((x) => fmt(x, m.digits)).join(' / ') : '—');
    let line = `- ${m.name}: ${results.columns.bare} ${list(m.bare)}; ${results.columns.project} ${list(m.project)}`;
    const ratios = roundRatios(m).filter(Number.isFinite);
    const base = m.bare.filter((x) => Number.isFinite(x) && x > 0);
    if (ratios.length >= 2 && base.length >= 2) {
      const spread = Math.max(...base) / Math.min(...base);
      line += `; ratios ${ratios.map((r) => fmt(r, 2)).join(' / ')} (${results.columns.bare}'s own rounds ${fmt(spread, 2)}× apart)`;
    }
    lines.push(line);
  }
  return lines.join('\n');
}

export function toJson(results: Results) {
  return {
    columns: results.columns,
    metrics: [...results.metrics.values()].map((m) => ({
      ...m,
      bareMedian: median(m.bare),
      projectMedian: median(m.project),
      ratio: ratioOf(m),
      verdict: verdict(m),
    })),
    notes: results.notes,
  };
}
