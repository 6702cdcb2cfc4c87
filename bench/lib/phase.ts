/** What run.ts hands a phase that lives in a module of its own (bench/scale.ts, bench/storm.ts). */
import type { BenchRedis } from './redis.js';
import type { Results } from './report.js';
import type { CpuWindow, RedisCpu } from './scenarios.js';

/** The two columns of a table: the baseline (`bare`) and the measured side (`project`). */
export type Side = 'bare' | 'project';

export interface PhaseContext<Config> {
  cfg: Config;
  redis: BenchRedis;
  /** Redis CPU seconds (INFO cpu). */
  redisCpu: RedisCpu;
  /** The phase's own table. */
  results: Results;
  /** This run's id (in usernames and room ids). */
  run: string;
  /** The project's entry module (--project-entry). */
  entry: string;
  /** Interleaving: which side goes first in round r (-1: the warm-up). */
  order(r: number): Side[];
  label(r: number): string;
  roundsWithWarmup: number[];
  /** --cpu-prof: the timed windows that follow belong to `phase` (profiled when r ≥ 0). */
  profile(phase: string, r: number): void;
  /** Records a timed round's load-generator CPU and other processes' share (for the report's notes). */
  noteForeign(what: string, res: Pick<CpuWindow, 'foreignPct' | 'clientPct'>): void;
}
