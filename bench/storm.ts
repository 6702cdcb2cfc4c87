/**
 * `npm run bench -- --only=storm`: a deploy under load. S sockets (the project's
 * spread over U users, plus watcher sockets that keep a presence view as the page
 * does) are connected to ONE server process with socket.io-client's automatic
 * reconnection on. The process gets SIGTERM (the project closes every transport, so
 * clients reconnect) and a replacement, booted beforehand with its listen held,
 * listens on the same port the moment the old one has exited; the sessions survive
 * in Redis. Measured: until every socket is back; for the project, until presence has
 * settled and how many `presence` events all sockets received meanwhile (each user's
 * offline/online announcement reaching every socket); server CPU over the storm.
 * The bare server (no presence) is the baseline for "all back".
 */
import type { ServerChild } from './lib/children.js';
import type { PhaseContext, Side } from './lib/phase.js';
import { registerUsers, startBare, startProject } from './lib/project.js';
import { noRedis, StormFleet, stormRound } from './lib/scenarios.js';
import { fmt, progress, warn } from './lib/util.js';

export interface StormConfig {
  stormSockets: number;
  stormUsers: number;
  stormWatchers: number;
  /** socket.io-client reconnectionDelay and reconnectionDelayMax (ms; randomization 0.5). */
  stormDelay: number;
  stormDelayMax: number;
  /** Presence has settled after this long without a `presence` event (ms). */
  stormQuiet: number;
  /** How long after settling late `presence` events are still counted (ms). */
  stormTail: number;
  /** Bound of one storm (s). */
  stormTimeout: number;
}

/** The shipped page retries a refused CONNECT after 500 ms first (public/js/chat/connection.js). */
const RETRY_REFUSED_MS = 500;

export async function stormPhase(ctx: PhaseContext<StormConfig>) {
  const { cfg, results } = ctx;
  const prefix = `${ctx.redis.prefix}storm:`;
  const start = (side: Side, port?: number) => {
    const env: Record<string, string> = port ? { PORT: String(port) } : {};
    const holdListen = port !== undefined;
    return side === 'bare'
      ? startBare({ name: 'storm-bare', env, holdListen })
      : startProject({ name: 'storm-project', prefix, entry: ctx.entry, env, holdListen });
  };
  progress(`storm: starting the bare server and the project (prefix ${prefix})`);
  const current: Record<Side, ServerChild> = { bare: await start('bare'), project: await start('project') };

  const users = await registerUsers(current.project.url, ctx.run, 'r', Math.min(cfg.stormUsers, cfg.stormSockets) + cfg.stormWatchers);
  const members = users.slice(0, users.length - cfg.stormWatchers);
  const watchers = users.slice(members.length);
  const reconnection = { delay: cfg.stormDelay, delayMax: cfg.stormDelayMax, randomization: 0.5 };
  const fleets: Record<Side, StormFleet> = {
    bare: new StormFleet(current.bare.url, reconnection, RETRY_REFUSED_MS),
    project: new StormFleet(current.project.url, reconnection, RETRY_REFUSED_MS),
  };
  progress(`storm: connecting ${cfg.stormSockets} sockets to each server`);
  await fleets.bare.connect(cfg.stormSockets, []);
  await fleets.project.connect(cfg.stormSockets, members.map((u) => u.cookie), watchers.map((u) => u.cookie));
  const expectedOnline = users.map((u) => u.username);

  const rows = {
    back: 'all sockets back after SIGTERM',
    notBack: 'sockets not back within the bound',
    exited: 'old process exited after SIGTERM',
    down: 'last socket saw its disconnect after SIGTERM',
    settled: 'presence settled after SIGTERM',
    events: 'presence events received, all sockets',
    late: 'presence events after settling',
    view: "users wrong in the watchers' presence view",
    server: 'server CPU over the storm, both processes',
    redis: 'Redis CPU over the storm',
    attempts: 'client reconnection attempts',
    refused: 'CONNECTs refused by the server',
  };
  results.metric(rows.back, 's', 'lower');
  results.metric(rows.notBack, 'count', 'lower', { on: 'every', op: '<=', value: 0 }, 0);
  results.metric(rows.exited, 's', 'lower');
  results.metric(rows.down, 's', 'lower');
  results.metric(rows.settled, 's', 'lower');
  results.metric(rows.events, 'count', 'lower', undefined, 0);
  results.metric(rows.late, 'count', 'lower', undefined, 0);
  results.metric(rows.view, 'count', 'lower', { on: 'every', op: '<=', value: 0 }, 0);
  results.metric(rows.server, 'ms', 'lower');
  results.metric(rows.redis, 'ms', 'lower');
  results.metric(rows.attempts, 'count', 'lower', undefined, 0);
  results.metric(rows.refused, 'count', 'lower', undefined, 0);

  for (const r of ctx.roundsWithWarmup) {
    for (const side of ctx.order(r)) {
      const fleet = fleets[side];
      const what = `${side} storm`;
      progress(`storm ${ctx.label(r)}: ${side}: booting the replacement (port ${current[side].port}, listen held)`);
      const next = await start(side, current[side].port);
      progress(`storm ${ctx.label(r)}: ${side}: SIGTERM with ${fleet.total} sockets connected`);
      ctx.profile('storm', -1); // no profiles: the window spans two processes, one of which exits
      const res = await stormRound({
        old: current[side],
        next,
        fleet,
        redisCpu: side === 'project' ? ctx.redisCpu : noRedis,
        ...(side === 'project' && { expectedOnline }),
        quietMs: cfg.stormQuiet,
        tailMs: cfg.stormTail,
        timeoutMs: cfg.stormTimeout * 1000,
      });
      current[side] = next;
      if (res.oldExitCode !== 0) warn(`${what}: the old process exited with ${res.oldExitCode}`);
      if (res.notBack) warn(`${what}: FAIL: ${res.notBack} of ${fleet.total} sockets not back within ${cfg.stormTimeout} s`);
      if (res.listWrong) warn(`${what}: presence never settled: ${res.listWrong}`);
      if (res.viewWrong) warn(`${what}: FAIL: the watchers' presence view (presence:list at connect, then events) is wrong for ${res.viewWrong} user(s)`);
      if (res.refused) warn(`${what}: ${res.refused} CONNECTs refused by the server (first: ${res.firstRefusal}), retried`);
      if (res.latePresence) warn(`${what}: ${res.latePresence} presence events after presence had settled`);
      progress(
        `${what}: exited ${fmt(res.exited, 2)} s, listening ${fmt(res.listening, 2)} s, last disconnect seen ${fmt(res.lastDown, 2)} s, ${res.attempts} attempts, back ${fmt(res.allBack, 2)} s${side === 'project' ? `, presence settled ${fmt(res.settled, 2)} s, ${fmt(res.presenceEvents, 0)} presence events` : ''}`,
      );
      if (r < 0) continue;
      ctx.noteForeign(what, res);
      results.add(rows.back, side, res.allBack);
      results.add(rows.notBack, side, res.notBack);
      results.add(rows.exited, side, res.exited);
      results.add(rows.down, side, res.lastDown);
      results.add(rows.server, side, res.serverUs / 1000);
      results.add(rows.redis, side, res.redisUs / 1000);
      results.add(rows.attempts, side, res.attempts);
      results.add(rows.refused, side, res.refused);
      if (side === 'project') {
        results.add(rows.settled, side, res.settled);
        results.add(rows.events, side, res.presenceEvents);
        results.add(rows.late, side, res.latePresence);
        results.add(rows.view, side, res.viewWrong);
      }
    }
  }
  results.note(
    `storm: ${cfg.stormSockets} sockets per server (project: ${members.length} users × ${fmt(cfg.stormSockets / members.length, 0)} sockets, ` +
      `+ ${watchers.length} watcher socket(s) of their own user(s), ${fleets.project.total} in all), websocket, socket.io-client reconnection ` +
      `${cfg.stormDelay}-${cfg.stormDelayMax} ms (randomization 0.5); the replacement is booted beforehand and listens once the old process has exited; ` +
      `presence settled = no \`presence\` event for ${fmt(cfg.stormQuiet / 1000, 1)} s after the last socket is back and presence:list = every user; ` +
      `server CPU = the old process until it exited + the new one; the sockets make no catch-up requests (the page's room:join, presence:list) except the watchers' presence:list`,
  );
  progress('storm: closing sockets, stopping servers');
  fleets.bare.close();
  fleets.project.close();
  await Promise.all([current.bare.stop(), current.project.stop()]);
}
