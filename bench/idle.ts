/**
 * `npm run bench -- --only=idle-8k`: N idle authenticated sockets (default 8,000) in
 * ONE project process, against the same count on a bare Socket.IO server. The
 * project's sockets share the sessions of --idle-users users (as the heap phase's
 * do). Reported per side: heap after GC per socket and in total, RSS, how long
 * opening all the sockets took (100 connects in flight) and each connect's time
 * (median, p99), the server CPU per connect, and how many connected.
 *
 * A phase of its own rather than a size of `heap`: it starts a bare server and a
 * project process of its own (a fresh process, so the heap holds nothing of other
 * phases), and runs ONE round per side (bare, then project): 8,000 connects and full
 * GCs take about a minute a side. A warm-up (200 sockets opened and closed) first,
 * unless --no-warmup, so that the code compiled for a handshake is not counted as
 * the sockets' heap. The load generator holds all N client sockets, and the server
 * as many: `ulimit -n` must be above N + 1,000 (the bench warns).
 */
import type { PhaseContext, Side } from './lib/phase.js';
import { modeEnv, registerUsers, startBare, startProject } from './lib/project.js';
import { idleHeapRound, noRedis } from './lib/scenarios.js';
import { fmt, progress, warn } from './lib/util.js';

export interface IdleConfig {
  idleMax: number;
  idleUsers: number;
  memory: boolean;
  metrics: boolean;
  heapSnapshots?: string | undefined;
}

const MB = 1024 * 1024;
const CONCURRENCY = 100;
const WARMUP_SOCKETS = 200;

export async function idlePhase(ctx: PhaseContext<IdleConfig>) {
  const { cfg, results } = ctx;
  const n = cfg.idleMax;
  const prefix = `${ctx.redis.prefix}idle:`;
  const at = `idle @${n}`;
  const row = {
    perSocket: `${at}: heap per idle socket`,
    heap: `${at}: heap after GC, total`,
    rss: `${at}: RSS`,
    open: `${at}: time to open all sockets`,
    p50: `${at}: connect time p50`,
    p99: `${at}: connect time p99`,
    cpu: `${at}: server CPU per connect`,
    connected: `${at}: sockets connected`,
  };
  progress(`idle: starting a bare server and a project process of their own (${cfg.memory ? 'in-memory stores' : `prefix ${prefix}`})`);
  const [bare, project] = await Promise.all([startBare({ name: 'bare-idle' }), startProject({ name: 'project-idle', prefix, entry: ctx.entry, env: modeEnv(cfg) })]);
  const servers = { bare, project };
  try {
    const users = await registerUsers(project.url, ctx.run, 'i', cfg.idleUsers);
    const cookiesOf = (side: Side) => (side === 'project' ? users.map((u) => u.cookie) : []);
    results.metric(row.perSocket, 'bytes', 'lower', { on: 'ratio', op: '<=', value: 1.2 }, 0);
    results.metric(row.heap, 'MB', 'lower', undefined, 1);
    results.metric(row.rss, 'MB', 'lower', undefined, 1);
    results.metric(row.open, 's', 'lower');
    results.metric(row.p50, 'ms', 'lower');
    results.metric(row.p99, 'ms', 'lower');
    results.metric(row.cpu, 'µs', 'lower');
    results.metric(row.connected, 'count', 'higher', { on: 'every', op: '>=', value: n }, 0);
    // Not profiled (--cpu-prof): the heap is measured right after the opening, and a profile would be in it.
    ctx.profile('idle', -1);
    for (const side of ctx.order(0)) {
      const cpu = side === 'project' && !cfg.memory ? ctx.redisCpu : noRedis;
      if (ctx.roundsWithWarmup.includes(-1)) {
        progress(`idle warm-up: ${side} (${Math.min(WARMUP_SOCKETS, n)} sockets opened and closed)`);
        await idleHeapRound(servers[side], Math.min(WARMUP_SOCKETS, n), cookiesOf(side), { concurrency: CONCURRENCY });
      }
      progress(`idle: ${side} opening ${fmt(n, 0)} idle sockets (${CONCURRENCY} at a time), heap after GC`);
      const snapshotPrefix = cfg.heapSnapshots && `${cfg.heapSnapshots}/${side}-idle-${n}`;
      const res = await idleHeapRound(servers[side], n, cookiesOf(side), { concurrency: CONCURRENCY, redisCpu: cpu, ...(snapshotPrefix && { snapshotPrefix }) });
      if (res.failed) warn(`${side} idle: ${res.failed} of ${n} connects failed (${res.firstError})`);
      if (res.cpu) ctx.noteForeign(`${side} idle sockets opening`, res.cpu);
      results.add(row.perSocket, side, res.perSocket);
      results.add(row.heap, side, res.heapAfter / MB);
      results.add(row.rss, side, res.rssAfter / MB);
      results.add(row.open, side, res.openSeconds);
      results.add(row.p50, side, res.connectP50);
      results.add(row.p99, side, res.connectP99);
      results.add(row.cpu, side, (res.cpu?.serverUs ?? NaN) / Math.max(1, res.connected));
      results.add(row.connected, side, res.connected);
    }
    results.note(
      `${at}: one round per side (bare, then project; --rounds does not apply), ${fmt(n, 0)} idle sockets in one fresh process of the phase's own, ` +
        `${CONCURRENCY} connects in flight; the project's share the sessions of ${users.length} users; ` +
        `heap per socket = (heap after GC with the sockets − without) / sockets; total heap and RSS with them open; ` +
        `connect time = one connect's start to its \`connect\` event, this process's clock` +
        (ctx.roundsWithWarmup.includes(-1) ? `; ${Math.min(WARMUP_SOCKETS, n)} sockets opened and closed first (warm-up)` : ''),
    );
  } finally {
    progress('idle: stopping servers');
    await Promise.all([bare.stop(), project.stop()]);
  }
}
