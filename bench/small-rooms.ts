/**
 * `npm run bench -- --only=small-rooms`: many small rooms, project vs bare Socket.IO.
 * R rooms of M members (default 25 × 4): every member is a user of its own with one
 * socket, joined to its room; every member sends K acked `message:send` one after
 * another, and every delivery of `message:new` to the room's M members (the sender's
 * included) is counted and checked: none missing, none extra (a duplicate, or a
 * message of another room).
 *
 * The phase starts a project process and a bare server of its own: a member sends
 * more than the per-user send limit (30 per 10 s) allows, so the project runs with
 * the send ceiling raised through RATE_LIMITS (RAISED_SEND_LIMITS: still counted on
 * every send, never reached). The shared project of the other phases keeps the
 * limit, so what they measure (fan-out rounds paced to it) is unchanged.
 */
import type { PhaseContext, Side } from './lib/phase.js';
import { modeEnv, RAISED_SEND_LIMITS, registerUsers, startBare, startProject } from './lib/project.js';
import { fanoutRound, noRedis, setUpRooms, type FanoutGroup } from './lib/scenarios.js';
import { closeAll } from './lib/sockets.js';
import { progress, warn } from './lib/util.js';

export interface SmallRoomsConfig {
  smallRooms: number;
  smallMembers: number;
  /** Per member and round. */
  smallMessages: number;
  /**
   * The project's MESSAGE_HISTORY_LIMIT, 0 for its default (10,000: never reached here).
   * At 100, every room is full after its first 100 messages and every post trims one,
   * as in a busy room of a long-running server.
   */
  smallHistory: number;
  memory: boolean;
  metrics: boolean;
}

/** The rows, in the project-vs-bare table. */
export const SMALL_ROOMS_ROWS = {
  rate: 'small rooms: messages/s',
  p50: 'small rooms: delivery latency p50',
  p99: 'small rooms: delivery latency p99',
  server: 'small rooms: server CPU per message',
  redis: 'small rooms: Redis CPU per message',
  commands: 'small rooms: Redis commands per message',
  missing: 'small rooms: deliveries missing',
  extra: 'small rooms: deliveries unexpected (duplicate, other room)',
} as const;

export async function smallRoomsPhase(ctx: PhaseContext<SmallRoomsConfig>) {
  const { cfg, results } = ctx;
  const { smallRooms: rooms, smallMembers: members, smallMessages: messages } = cfg;
  const row = SMALL_ROOMS_ROWS;
  const prefix = `${ctx.redis.prefix}small:`;
  progress(`small rooms: starting a bare server and a project process of their own (${cfg.memory ? 'in-memory stores' : `prefix ${prefix}`})`);
  const history: Record<string, string> = cfg.smallHistory ? { MESSAGE_HISTORY_LIMIT: String(cfg.smallHistory) } : {};
  const [bare, project] = await Promise.all([
    startBare({ name: 'bare-small' }),
    startProject({ name: 'project-small', prefix, entry: ctx.entry, env: { RATE_LIMITS: RAISED_SEND_LIMITS, ...history, ...modeEnv(cfg) } }),
  ]);
  const servers = { bare, project };
  const groups: Record<Side, FanoutGroup[]> = { bare: [], project: [] };
  try {
    const users = await registerUsers(project.url, ctx.run, 'r', rooms * members);
    const roomId = (k: number) => `sr-${ctx.run}-${k}`;
    progress(`small rooms: ${rooms} rooms × ${members} members on each server, joining`);
    groups.bare = await setUpRooms({ urls: [bare.url], rooms, members, roomId });
    groups.project = await setUpRooms({ urls: [project.url], rooms, members, roomId, users });

    results.metric(row.rate, 'per s', 'higher', { on: 'ratio', op: '>=', value: 0.9 });
    results.metric(row.p50, 'ms', 'lower');
    results.metric(row.p99, 'ms', 'lower');
    results.metric(row.server, 'µs', 'lower');
    results.metric(row.redis, 'µs', 'lower');
    results.metric(row.commands, 'count', 'lower');
    results.metric(row.missing, 'count', 'lower', { on: 'every', op: '<=', value: 0 }, 0);
    results.metric(row.extra, 'count', 'lower', { on: 'every', op: '<=', value: 0 }, 0);
    for (const r of ctx.roundsWithWarmup) {
      for (const side of ctx.order(r)) {
        const what = `${side} small rooms`;
        progress(`small rooms ${ctx.label(r)}: ${side} (${rooms} rooms × ${members} members × ${messages} messages → ${members} each)`);
        ctx.profile('small-rooms', r);
        const res = await fanoutRound(servers[side], side === 'project' && !cfg.memory ? ctx.redisCpu : noRedis, groups[side], messages, `sr${r}${side[0]}`);
        if (res.ackErrors) warn(`${what}: ${res.ackErrors} sends failed (${res.firstAckError})`);
        if (res.missing || res.extra) warn(`${what}: FAIL: ${res.missing} of ${res.expected} deliveries missing, ${res.extra} unexpected`);
        if (r < 0) continue;
        ctx.noteForeign(what, res);
        results.add(row.rate, side, res.ackedPerSecond);
        results.add(row.p50, side, res.p50);
        results.add(row.p99, side, res.p99);
        results.add(row.server, side, res.serverUs / Math.max(1, res.acked));
        results.add(row.redis, side, res.redisUs / Math.max(1, res.acked));
        results.add(row.commands, side, res.redisCommands / Math.max(1, res.acked));
        results.add(row.missing, side, res.missing);
        results.add(row.extra, side, res.extra);
      }
    }
    results.note(
      `small rooms: ${rooms} rooms × ${members} members (a user and a socket each), every member sends ${messages} acked messages a round, one after another, ` +
        `each delivered to the room's ${members} members, sender included (${rooms * members * messages} messages, ${rooms * members * messages * members} deliveries a round, every one checked); ` +
        `messages/s = acked sends / (first send → last ack); CPU per message = per acked send (its ${members} deliveries included); ` +
        `a bare server and a project process of the phase's own, the project with RATE_LIMITS=${RAISED_SEND_LIMITS} (sends still counted, the ceiling never reached)`,
    );
  } finally {
    progress('small rooms: closing sockets, stopping servers');
    for (const side of ['bare', 'project'] as const) for (const g of groups[side]) closeAll(g.sockets);
    await Promise.all([bare.stop(), project.stop()]);
  }
}
