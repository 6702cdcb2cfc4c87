/**
 * `npm run bench -- --only=scale`: "a process pays for the rooms it serves". The
 * same chat load against 1 project process and against N (default 3) on one Redis,
 * each size with its own REDIS_PREFIX and users: R rooms of M members (M users, a
 * socket each; a room's members all on one process, rooms dealt round-robin over
 * the processes), every member sends K acked messages, every delivery of
 * `message:new` to the room's members (the sender's included) is counted and
 * checked. Server CPU is summed over all the processes of a size; the target is
 * N processes' CPU per delivery within 1.1× of one process's. Each of the N
 * processes sees a third of the traffic, so its code takes about N times as many
 * rounds to be optimised (JIT) as the single process's: hence several warm-up
 * rounds (--scale-warmup) before the timed ones.
 */
import type { ServerChild } from './lib/children.js';
import type { PhaseContext, Side } from './lib/phase.js';
import { RAISED_SEND_LIMITS, registerUsers, startProject } from './lib/project.js';
import { fanoutRound, setUpRooms, type FanoutGroup } from './lib/scenarios.js';
import { closeAll } from './lib/sockets.js';
import { progress, warn } from './lib/util.js';

export interface ScaleConfig {
  /** The larger size (the smaller is always 1 process). */
  scaleProcesses: number;
  scaleRooms: number;
  scaleMembers: number;
  /** Per member and round, ≤ SEND_LIMIT (rounds are paced to the limit). */
  scaleMessages: number;
  /** Warm-up rounds per size (0 with --no-warmup). */
  scaleWarmup: number;
}

/**
 * The send limit raised (RAISED_SEND_LIMITS): 15 messages a member (the limit allows
 * 30 per 10 s) make rounds of ~0.15 s, where each process's fixed cost per measured
 * window outweighs the per-message cost being compared (3 processes then showed
 * 1.45-1.8x for either adapter; at 60 messages, 1.13x).
 */
const SCALE_RATE_LIMITS = RAISED_SEND_LIMITS;

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const processes = (n: number) => `${n} process${n === 1 ? '' : 'es'}`;

export async function scalePhase(ctx: PhaseContext<ScaleConfig>) {
  const { cfg, redis, results } = ctx;
  const { scaleRooms: rooms, scaleMembers: members, scaleMessages: messages } = cfg;
  // The table's baseline column is 1 process, the measured one N.
  const size: Record<Side, number> = { bare: 1, project: cfg.scaleProcesses };
  const prefixOf = (side: Side) => `${redis.prefix}scale${size[side]}:`;
  progress(`scale: starting 1 and ${size.project} project processes (prefix ${prefixOf('bare')}, ${prefixOf('project')})`);
  const procs: Record<Side, ServerChild[]> = { bare: [], project: [] };
  for (const side of ['bare', 'project'] as const) {
    procs[side] = await Promise.all(
      range(size[side]).map((i) =>
        startProject({ name: `scale${size[side]}-${i + 1}`, prefix: prefixOf(side), entry: ctx.entry, env: { RATE_LIMITS: SCALE_RATE_LIMITS } }),
      ),
    );
  }

  /** Users (one per member), rooms created by their first member, sockets on the room's process, joined. */
  const setUp = async (side: Side): Promise<FanoutGroup[]> => {
    const servers = procs[side];
    const users = await registerUsers(servers[0]!.url, ctx.run, `s${size[side]}`, rooms * members);
    return setUpRooms({ urls: servers.map((s) => s.url), rooms, members, roomId: (k) => `sc-${ctx.run}-${k}`, users });
  };
  const groups: Record<Side, FanoutGroup[]> = { bare: await setUp('bare'), project: await setUp('project') };

  results.metric('deliveries/s', 'per s', 'higher');
  results.metric('delivery latency p50', 'ms', 'lower');
  results.metric('delivery latency p99', 'ms', 'lower');
  results.metric('server CPU per delivery, all processes', 'µs', 'lower', { on: 'ratio', op: '<=', value: 1.1 });
  results.metric('Redis CPU per delivery', 'µs', 'lower');
  results.metric('deliveries missing', 'count', 'lower', { on: 'every', op: '<=', value: 0 }, 0);
  results.metric('deliveries unexpected (duplicate, other room)', 'count', 'lower', { on: 'every', op: '<=', value: 0 }, 0);
  // Warm-up rounds are numbered -1, -2, ... (still interleaved: ctx.order alternates on them too).
  const warmups = ctx.roundsWithWarmup.includes(-1) ? cfg.scaleWarmup : 0;
  const rounds = [...range(warmups).map((i) => -1 - i), ...ctx.roundsWithWarmup.filter((r) => r >= 0)];
  const label = (r: number) => (r < 0 ? `warm-up ${-r}/${warmups}` : ctx.label(r));
  for (const r of rounds) {
    for (const side of ctx.order(r)) {
      const what = `scale, ${processes(size[side])}`;
      progress(`${what} ${label(r)}: ${rooms} rooms × ${members} members × ${messages} messages`);
      ctx.profile('scale', r);
      const res = await fanoutRound(procs[side], ctx.redisCpu, groups[side], messages, `sc${r}${side[0]}`);
      if (res.ackErrors) warn(`${what}: ${res.ackErrors} sends failed (${res.firstAckError})`);
      if (res.missing || res.extra) warn(`${what}: FAIL: ${res.missing} of ${res.expected} deliveries missing, ${res.extra} unexpected`);
      if (r < 0) continue;
      ctx.noteForeign(what, res);
      results.add('deliveries/s', side, res.perSecond);
      results.add('delivery latency p50', side, res.p50);
      results.add('delivery latency p99', side, res.p99);
      results.add('server CPU per delivery, all processes', side, res.serverUs / Math.max(1, res.delivered));
      results.add('Redis CPU per delivery', side, res.redisUs / Math.max(1, res.delivered));
      results.add('deliveries missing', side, res.missing);
      results.add('deliveries unexpected (duplicate, other room)', side, res.extra);
    }
  }
  results.note(
    `scale: ${rooms} rooms × ${members} members (a user and a socket each), every member sends ${messages} acked messages a round, ` +
      `each delivered to the room's ${members} members (${rooms * members * messages * members} deliveries a round); room k on process k mod N; ` +
      `server CPU is the sum over the size's processes; each size has its own REDIS_PREFIX on the same Redis; ` +
      `${warmups} warm-up round(s) per size first; RATE_LIMITS=${SCALE_RATE_LIMITS} (a round's sends are counted, the ceiling is never reached), ` +
      'so that a round is long enough for the processes\' fixed cost per measured window (timers, GC, the probe) not to weigh in',
  );
  progress('scale: closing sockets, stopping processes');
  for (const side of ['bare', 'project'] as const) for (const g of groups[side]) closeAll(g.sockets);
  await Promise.all([...procs.bare, ...procs.project].map((p) => p.stop()));
}
