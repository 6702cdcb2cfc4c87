/**
 * `npm run bench`: the project (Redis mode, its build as `npm start` runs it) against a
 * bare Socket.IO server with the same chat events (bench/bare-server.ts), both
 * as child processes, driven by the same socket.io-client load from this process
 * in interleaved rounds. Every figure is a ratio against the bare server measured
 * in the same run; medians over rounds are reported.
 *
 *   npm run bench                         full run
 *   npm run bench -- --quick              a fast run (small sizes, 1 round)
 *   npm run bench -- --only=fanout,heap   some phases: handshake, fanout, inbound, inbound-remote, heap, liveness, session-read,
 *                                         small-rooms (25 rooms of 4), idle-8k (8,000 idle sockets in one process),
 *                                         scale (1 project process against 3), storm (a deploy under 2,000 reconnecting sockets)
 *   npm run bench -- --sockets=100 --messages=5 --rounds=3 --idle=1000,5000 --handshakes=2000
 *                    --hs-concurrency=25 --hs-warmup=3 (handshake warm-up rounds) --inbound-seconds=3
 *                    --liveness=50 --idle-users=10
 *                    --cpu-prof=/tmp/prof (V8 CPU profiles of the timed rounds of handshake, fanout and
 *                    inbound, both servers: <server>-<phase>-<n>.cpuprofile)  --json=/tmp/bench.json
 *                    --promoted-prof=/tmp/prom (the same rounds' sampling heap profiles of what outlives
 *                    the young generation: <server>-<phase>-<n>.heapprofile)
 *                    --alloc-prof=/tmp/alloc (the same, of every allocation: <server>-<phase>-<n>.heapprofile)
 *                    --heap-snapshots=/tmp/snaps (heap snapshots without and with N idle sockets, first round)
 *                    --project-entry=bench/app-server.ts (the same wiring, with the App in reach; default
 *                    dist/src/server.js, what npm start runs; src/server.ts runs the source under tsx)
 *                    --memory (the project on its in-memory stores: one process, no Redis round trips,
 *                    to separate the framework's own cost from Redis's)
 *                    --metrics (the project with METRICS_PORT set: counts every metric, serves /metrics
 *                    on a port of its own; compare with a run without it for the cost of counting)
 *                    --wait-quiet=120 (first wait up to 120 s for other processes to leave the CPUs,
 *                    then up to 60 s before each timed round)
 *                    --aa (with --only=handshake: bare Socket.IO against a second bare process where the
 *                    project stands, the bench measured against itself: how far apart identical servers come out;
 *                    --aa-swap: the process started second stands where bare stands, the first where the project does)
 *                    small-rooms: --small-rooms=25 --small-members=4 --small-messages=200
 *                    --small-history=100 (the project's MESSAGE_HISTORY_LIMIT: rooms full from the start)
 *                    idle-8k: --idle-max=8000 (sharing --idle-users sessions)
 *                    scale: --scale-processes=3 --scale-rooms=24 --scale-members=4 --scale-messages=150 --scale-warmup=8
 *                    storm: --storm-sockets=2000 --storm-users=200 --storm-watchers=1 --storm-delay=250
 *                    --storm-delay-max=5000 (ms) --storm-quiet=1000 (ms) --storm-tail=2000 (ms) --storm-timeout=120 (s)
 * Options may also be given as BENCH_<NAME> environment variables (BENCH_ROUNDS=5).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { installCleanup, repoRoot, runMain, type ServerChild } from './lib/children.js';
import { closeIdleHttp, runId } from './lib/http.js';
import type { Side } from './lib/phase.js';
import { BENCH_LIMITS, checkBuilt, modeEnv, PROJECT_ENTRY, registerUsers, SEND_LIMIT, startBare, startProject } from './lib/project.js';
import { openBenchRedis, REDIS_URL } from './lib/redis.js';
import { renderRounds, renderTable, Results, toJson } from './lib/report.js';
import {
  closeAndSettle,
  closedLoopRound,
  connectWithSession,
  fanoutRound,
  handshakeRound,
  idleHeapRound,
  logoutRound,
  noRedis,
  quiesce,
  SendBudget,
  stalenessRound,
  type RedisCpu,
  setQuietBeforeRounds,
  setWindowHooks,
  waitForQuietMachine,
} from './lib/scenarios.js';
import { ack, closeAll, connectMany, type Socket } from './lib/sockets.js';
import { fmt, gitState, median, Options, parseArgs, progress, progressDone, warn } from './lib/util.js';
import { idlePhase } from './idle.js';
import { scalePhase } from './scale.js';
import { runSessionRead } from './session-read.js';
import { smallRoomsPhase } from './small-rooms.js';
import { stormPhase } from './storm.js';

const PHASES = ['handshake', 'fanout', 'inbound', 'inbound-remote', 'heap', 'liveness', 'session-read', 'small-rooms', 'idle-8k', 'scale', 'storm'] as const;
type Phase = (typeof PHASES)[number];

async function main() {
  const opts = new Options(parseArgs(process.argv.slice(2)));
  const quick = opts.flag('quick', false);
  const only = new Set(opts.list('only', [...PHASES]) as Phase[]);
  for (const p of only) if (!PHASES.includes(p)) throw new Error(`--only: unknown phase ${p} (${PHASES.join(', ')})`);
  const cfg = {
    rounds: opts.int('rounds', quick ? 1 : 3, 1, 50),
    warmup: opts.flag('warmup', true),
    sockets: opts.int('sockets', quick ? 50 : 100, 2, 1000),
    messages: opts.int('messages', 5, 1, SEND_LIMIT),
    handshakes: opts.int('handshakes', quick ? 200 : 2000, 1, 20_000),
    hsConcurrency: opts.int('hs-concurrency', 25, 1, 1000),
    hsWarmup: opts.int('hs-warmup', quick ? 1 : 3, 1, 20),
    inboundSeconds: opts.int('inbound-seconds', quick ? 1 : 3, 0.2, 120),
    idle: opts.list('idle', quick ? ['200', '1000'] : ['1000', '5000']).map(Number),
    idleUsers: opts.int('idle-users', 10, 1, 1000),
    liveness: opts.int('liveness', quick ? 15 : 50, 1, 10_000),
    sessionReadSeconds: opts.int('session-read-seconds', quick ? 1 : 2, 0.2, 120),
    sessionReadRounds: opts.int('session-read-rounds', quick ? 1 : 5, 1, 50),
    cpuProf: opts.str('cpu-prof'),
    promotedProf: opts.str('promoted-prof'),
    allocProf: opts.str('alloc-prof'),
    json: opts.str('json'),
    waitQuiet: opts.int('wait-quiet', 0, 0, 3600),
    heapSnapshots: opts.str('heap-snapshots'),
    projectEntry: opts.str('project-entry', PROJECT_ENTRY),
    memory: opts.flag('memory', false),
    metrics: opts.flag('metrics', false),
    aa: opts.flag('aa', false),
    aaSwap: opts.flag('aa-swap', false),
    smallRooms: opts.int('small-rooms', quick ? 10 : 25, 1, 1000),
    smallMembers: opts.int('small-members', 4, 1, 100),
    smallMessages: opts.int('small-messages', quick ? 50 : 200, 1, 10_000),
    smallHistory: opts.int('small-history', 0, 0, 10_000_000),
    idleMax: opts.int('idle-max', quick ? 2000 : 8000, 1, 100_000),
    scaleProcesses: opts.int('scale-processes', 3, 2, 16),
    scaleRooms: opts.int('scale-rooms', quick ? 12 : 24, 1, 1000),
    scaleMembers: opts.int('scale-members', 4, 1, 100),
    scaleMessages: opts.int('scale-messages', 150, 1, 1000),
    scaleWarmup: opts.int('scale-warmup', quick ? 2 : 8, 1, 100),
    stormSockets: opts.int('storm-sockets', quick ? 500 : 2000, 1, 50_000),
    stormUsers: opts.int('storm-users', quick ? 50 : 200, 1, 10_000),
    stormWatchers: opts.int('storm-watchers', 1, 1, 100),
    stormDelay: opts.int('storm-delay', 250, 1, 60_000),
    stormDelayMax: opts.int('storm-delay-max', 5000, 1, 600_000),
    stormQuiet: opts.int('storm-quiet', 1000, 10, 60_000),
    stormTail: opts.int('storm-tail', 2000, 0, 600_000),
    stormTimeout: opts.int('storm-timeout', 120, 1, 3600),
  };
  opts.assertAllUsed();
  if (cfg.idle.some((n) => !Number.isInteger(n) || n < 1)) throw new Error('--idle: a comma-separated list of socket counts');
  if (cfg.smallHistory && (!Number.isInteger(cfg.smallHistory) || cfg.smallHistory < 100)) throw new Error('--small-history: 0 (the server default) or a whole number of at least 100 (MESSAGE_HISTORY_LIMIT)');
  if (cfg.aaSwap && !cfg.aa) throw new Error('--aa-swap: goes with --aa');
  if (cfg.aa && [...only].some((p) => p !== 'handshake')) throw new Error('--aa: two bare servers measured against each other, for the handshake rounds only: add --only=handshake');
  if (cfg.cpuProf) mkdirSync(cfg.cpuProf, { recursive: true });
  if (cfg.allocProf && cfg.promotedProf) throw new Error('--alloc-prof and --promoted-prof use the same profiler: one at a time');
  if (cfg.promotedProf) mkdirSync(cfg.promotedProf, { recursive: true });
  if (cfg.allocProf) mkdirSync(cfg.allocProf, { recursive: true });
  if (cfg.heapSnapshots) mkdirSync(cfg.heapSnapshots, { recursive: true });

  installCleanup();
  if (cfg.waitQuiet) {
    const busy = await waitForQuietMachine(cfg.waitQuiet, 15, (b) => progress(`waiting for a quiet machine: ${fmt(b, 0)}% busy`));
    if (busy >= 15) warn(`the machine is still ${fmt(busy, 0)}% busy after ${cfg.waitQuiet} s; measuring anyway`);
    setQuietBeforeRounds(Math.min(cfg.waitQuiet, 60));
  }
  // The storm's sockets to both servers are open at once in this process.
  checkFileLimit([
    ['heap', only.has('heap') ? Math.max(...cfg.idle) : 0],
    ['idle-8k', only.has('idle-8k') ? cfg.idleMax : 0],
    ['handshake', only.has('handshake') ? cfg.handshakes : 0],
    ['storm', only.has('storm') ? 2 * cfg.stormSockets : 0],
    ['fanout', cfg.sockets],
  ]);
  const started = Date.now();
  const loadAtStart = loadavg().map((x) => x.toFixed(2)).join(' ');
  // --aa: the project's column is a second bare server's.
  const results = new Results(cfg.aa ? { bare: 'bare A', project: 'bare B', ratio: 'ratio' } : undefined);
  /** A side as the table names it. */
  const sideName = (side: Side) => results.columns[side];
  /** Other processes' share of the machine during each timed round (see CpuWindow.foreignPct). */
  const foreign: number[] = [];
  /** The load generator's own CPU (% of a core) per workload and side. */
  const clientBusy = new Map<string, number[]>();
  const noteForeign = (what: string, res: { foreignPct: number; clientPct: number }) => {
    foreign.push(res.foreignPct);
    if (res.foreignPct > 15) warn(`${what}: other processes used ${fmt(res.foreignPct, 0)}% of the machine during this round (noisy)`);
    const list = clientBusy.get(what) ?? [];
    list.push(res.clientPct);
    clientBusy.set(what, list);
  };
  const benchOnly = [...only].filter((p) => p !== 'session-read');
  /** The phases that share one bare server and one project process. */
  const sharedServers = benchOnly.filter((p) => !['small-rooms', 'idle-8k', 'scale', 'storm'].includes(p));
  let sessionReadText = '';
  const scaleResults = new Results({ bare: '1 process', project: `${cfg.scaleProcesses} processes`, ratio: `ratio ${cfg.scaleProcesses}/1` });
  const stormResults = new Results();
  const order = (r: number): Side[] => (r % 2 ? ['project', 'bare'] : ['bare', 'project']);
  const label = (r: number) => (r < 0 ? 'warm-up' : `round ${r + 1}/${cfg.rounds}`);
  /** Warm-up rounds (negative) then the timed ones, for a phase that warms up `warmups` rounds. */
  const withWarmup = (warmups: number) => [...(cfg.warmup ? Array.from({ length: warmups }, (_, i) => i - warmups) : []), ...Array.from({ length: cfg.rounds }, (_, i) => i)];
  // --cpu-prof / --promoted-prof / --alloc-prof: one .cpuprofile / .heapprofile per timed round and server, named <server>-<phase>-<n>.
  let profPhase = '';
  let profTimed = false;
  const profCount = new Map<string, number>();
  if (cfg.cpuProf || cfg.promotedProf || cfg.allocProf) {
    const { cpuProf, promotedProf, allocProf } = cfg;
    setWindowHooks({
      before: async (server) => {
        if (!profTimed) return;
        if (promotedProf) await server.promotedStart();
        if (allocProf) await server.allocStart();
        if (cpuProf) await server.profileStart();
      },
      after: async (server) => {
        if (!profTimed) return;
        const key = `${server.name}-${profPhase}`;
        const n = (profCount.get(key) ?? 0) + 1;
        profCount.set(key, n);
        if (cpuProf) await server.profileStop(`${cpuProf}/${key}-${n}.cpuprofile`);
        if (promotedProf) await server.promotedStop(`${promotedProf}/${key}-${n}.heapprofile`);
        if (allocProf) await server.allocStop(`${allocProf}/${key}-${n}.heapprofile`);
      },
    });
  }
  const profile = (phase: string, r: number) => {
    profPhase = phase;
    profTimed = r >= 0;
  };
  const roundsWithWarmup = withWarmup(1);
  const run = runId();
  const entry = cfg.projectEntry;
  if (!cfg.aa) checkBuilt(entry, 'npm run bench', ', or pass --project-entry=src/server.ts to run the source under tsx');
  const redis = benchOnly.length && !cfg.aa ? await openBenchRedis('run') : undefined;
  if (redis) progress(`Redis ${REDIS_URL} (prefix ${redis.prefix}: this run's keys, deleted at the end)`);
  const redisCpu: RedisCpu = () => (redis ? redis.reading() : noRedis());
  const settingsNote = `project settings for load beyond one person's: ${Object.entries(BENCH_LIMITS).map(([k, v]) => `${k}=${v}`).join(' ')} (still counted on every event)`;

  /**
   * The handshake rounds, into `results`: `cfg.handshakes` connects a round on each side, the
   * cookies each side's sockets carry, and the Redis whose CPU a side is billed.
   */
  const handshakePhase = async (targets: Record<Side, ServerChild>, cookiesOf: (side: Side) => readonly string[], cpuOf: (side: Side) => RedisCpu) => {
    results.metric('handshakes/s', 'per s', 'higher', { on: 'ratio', op: '>=', value: 0.85 });
    results.metric('server CPU per handshake', 'µs', 'lower', { on: 'ratio', op: '<=', value: 1.3 });
    results.metric('Redis CPU per handshake', 'µs', 'lower');
    results.metric('Redis commands per handshake', 'count', 'lower');
    // The server's CPU split: its event-loop thread, and the helper threads (the collector's parallel and concurrent work, the compiler).
    results.metric('server CPU per handshake, event-loop thread', 'µs', 'lower');
    results.metric('server CPU per handshake, helper threads', 'µs', 'lower');
    // What the collector paused the server for in the window: the young generation's pauses as a row; full
    // collections, a few a run that land in one round and not the next, in a note (a ratio of them means nothing).
    results.metric('server GC pauses per handshake, young generation', 'µs', 'lower');
    const fullCollections: Record<Side, string[]> = { bare: [], project: [] };
    // A round is ~2,000 connects, a fraction of a second of server CPU: after one warm-up round V8
    // is still compiling (on background threads, which the CPU counts), for both servers.
    for (const r of withWarmup(cfg.hsWarmup)) {
      for (const side of order(r)) {
        progress(`handshakes ${label(r)}: ${sideName(side)} (${cfg.handshakes} connects, ${cfg.hsConcurrency} at a time)`);
        profile('handshake', r);
        const res = await handshakeRound(targets[side], cpuOf(side), cfg.handshakes, cfg.hsConcurrency, cookiesOf(side));
        if (res.errors) warn(`${sideName(side)} handshakes: ${res.errors} failed (${res.firstError})`);
        if (r < 0) continue;
        noteForeign(`${sideName(side)} handshakes`, res);
        results.add('handshakes/s', side, res.perSecond);
        results.add('server CPU per handshake', side, res.serverUs / res.connected);
        results.add('Redis CPU per handshake', side, res.redisUs / res.connected);
        results.add('Redis commands per handshake', side, res.redisCommands / Math.max(1, res.connected));
        if (Number.isFinite(res.serverMainUs)) {
          results.add('server CPU per handshake, event-loop thread', side, res.serverMainUs / res.connected);
          results.add('server CPU per handshake, helper threads', side, (res.serverUs - res.serverMainUs) / res.connected);
        }
        results.add('server GC pauses per handshake, young generation', side, (res.gc.young.ms * 1000) / Math.max(1, res.connected));
        fullCollections[side].push(`${res.gc.full.count} (${fmt(res.gc.full.ms + res.gc.other.ms, 1)} ms)`);
      }
    }
    results.note(
      `handshake rounds: full collections in each timed window, with the event-loop thread's pauses for them and for incremental marking: ` +
        `${sideName('bare')} ${fullCollections.bare.join(' / ')}; ${sideName('project')} ${fullCollections.project.join(' / ')}`,
    );
  };

  if (cfg.aa) {
    progress('starting two bare Socket.IO servers (A/A: the bench against itself)');
    const [a, b] = await Promise.all([startBare({ name: 'bare-first' }), startBare({ name: 'bare-second' })]);
    try {
      await handshakePhase(cfg.aaSwap ? { bare: b, project: a } : { bare: a, project: b }, () => [], () => noRedis);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
    const [inA, inB] = cfg.aaSwap ? ['second', 'first'] : ['first', 'second'];
    results.note(
      `A/A: both columns are bench/bare-server.ts, two processes started together (the first spawned a moment before the second); ` +
        `"bare A" is the ${inA}, "bare B", where the project stands in a normal run, the ${inB}: ` +
        'the ratios are the spread of identical servers on this machine, and PASS/FAIL how often one would meet the targets by chance',
    );
  }

  /** --metrics: METRICS_PORT on a free port, so the project counts everything it would count in production. */
  const metricsEnv = modeEnv({ memory: false, metrics: cfg.metrics });
  if (redis && sharedServers.length) {
    progress('starting the bare server and the project (Redis mode)');
    const [bare, project] = await Promise.all([
      startBare(),
      startProject({
        prefix: redis.prefix,
        entry,
        env: modeEnv(cfg),
      }),
    ]);
    results.note(settingsNote);
    results.note(cfg.metrics ? 'project with METRICS_PORT set: every metric counted' : 'project without METRICS_PORT: no metrics counted');
    results.note(entry === PROJECT_ENTRY ? `project started from ${entry}, as npm start runs it` : `project started from ${entry}`);
    progress(`bare ${bare.url}, project ${project.url} (prefix ${redis.prefix})`);

    // Users: one per fan-out socket (the send limit is per user), one for staleness, one for logout.
    const needFanUsers = only.has('handshake') || only.has('fanout') || only.has('inbound') || only.has('inbound-remote') || only.has('heap');
    const fanUsers = needFanUsers ? await registerUsers(project.url, run, 'f', cfg.sockets) : [];
    const fanCookies = fanUsers.map((u) => u.cookie);
    const targets = { bare, project };
    const cookiesOf = (side: Side) => (side === 'project' ? fanCookies : []);
    const cpuOf = (side: Side) => (side === 'project' ? redisCpu : noRedis);

    if (only.has('handshake')) await handshakePhase(targets, cookiesOf, cpuOf);

    // ---- fan-out and acked inbound (persistent sockets) -----------------------
    if (only.has('fanout') || only.has('inbound') || only.has('inbound-remote')) {
      progress(`connecting ${cfg.sockets} sockets to each server and joining rooms`);
      const handlesBefore = {
        bare: (await bare.stats()).resources.TCPSocketWrap ?? 0,
        project: (await project.stats()).resources.TCPSocketWrap ?? 0,
      };
      const persistent: Record<Side, Socket[]> = {
        bare: await connectMany(bare.url, cfg.sockets, [], 25),
        project: await connectMany(project.url, cfg.sockets, fanCookies, 25),
      };
      const fanRoom = 'general';
      const ownRoom = (i: number) => `in-${run}-${i}`;
      // In the project rooms must exist: each fan user creates its own (public) room.
      await Promise.all(fanUsers.map((u, i) => u.expect('POST', '/api/rooms', 201, { id: ownRoom(i) })));
      for (const side of ['bare', 'project'] as const) {
        await Promise.all(
          persistent[side].map(async (s, i) => {
            for (const roomId of [fanRoom, ownRoom(i)]) {
              const res = await ack<{ ok: boolean; error?: unknown }>(s, 'room:join', { roomId }, 20_000);
              if (!res.ok) throw new Error(`${side} room:join ${roomId}: ${JSON.stringify(res.error)}`);
            }
          }),
        );
        await quiesce(targets[side]);
      }
      const sendBudget = new SendBudget(cfg.messages);

      if (only.has('fanout')) {
        results.metric('fan-out deliveries/s', 'per s', 'higher', { on: 'ratio', op: '>=', value: 0.9 });
        results.metric('delivery latency p50', 'ms', 'lower', { on: 'ratio', op: '<=', value: 1.05 });
        results.metric('delivery latency p99', 'ms', 'lower');
        results.metric('server CPU per delivery', 'µs', 'lower');
        results.metric('Redis CPU per delivery', 'µs', 'lower');
        for (const r of roundsWithWarmup) {
          for (const side of order(r)) {
            if (side === 'project') await sendBudget.take();
            progress(`fan-out ${label(r)}: ${side} (${cfg.sockets} sockets × ${cfg.messages} messages → ${cfg.sockets - 1} each)`);
            profile('fanout', r);
            const res = await fanoutRound(targets[side], cpuOf(side), [{ roomId: fanRoom, sockets: persistent[side] }], cfg.messages, `f${r + 1}${side[0]}`);
            if (res.ackErrors) warn(`${side} fan-out: ${res.ackErrors} sends failed (${res.firstAckError})`);
            if (res.delivered < res.expected) warn(`${side} fan-out: ${res.delivered}/${res.expected} deliveries arrived`);
            if (r < 0) continue;
            noteForeign(`${side} fan-out`, res);
            results.add('fan-out deliveries/s', side, res.perSecond);
            results.add('delivery latency p50', side, res.p50);
            results.add('delivery latency p99', side, res.p99);
            results.add('server CPU per delivery', side, res.serverUs / Math.max(1, res.delivered));
            results.add('Redis CPU per delivery', side, res.redisUs / Math.max(1, res.delivered));
          }
        }
      }

      /** What one side's typing loop runs on: the processes measured (the sending one first), the sending sockets, Redis's reading (none for bare in one process). */
      interface LoopSide {
        servers: readonly ServerChild[];
        sockets: Socket[];
        redis: RedisCpu;
      }
      const mainSides: Record<Side, LoopSide> = {
        bare: { servers: [bare], sockets: persistent.bare, redis: cpuOf('bare') },
        project: { servers: [project], sockets: persistent.project, redis: cpuOf('project') },
      };

      /**
       * Timed rounds of a closed loop (every socket sends `typing` to its own room and
       * waits for the ack), both sides, into the given rows: `server` the sending
       * process's CPU, `others` the other processes' of a side that has several,
       * `total` every process's and Redis's together.
       */
      const inboundRounds = async (
        phase: string,
        what: string,
        rows: { rate: string; server: string; redis?: string; others?: string; total?: string },
        sides: Record<Side, LoopSide> = mainSides,
      ) => {
        for (const r of roundsWithWarmup) {
          for (const side of order(r)) {
            const { servers, sockets, redis: redisOf } = sides[side];
            progress(`${what} ${label(r)}: ${side} (${sockets.length} sockets, typing in own room, ${cfg.inboundSeconds} s)`);
            profile(phase, r);
            const res = await closedLoopRound(servers, redisOf, sockets, 'typing', (i, k) => ({ roomId: ownRoom(i), typing: k % 2 === 0 }), cfg.inboundSeconds);
            if (res.failed) warn(`${side} ${what}: ${res.failed} acks not ok (${res.firstFailure})`);
            if (r < 0) continue;
            noteForeign(`${side} ${what}`, res);
            const per = (us: number) => us / Math.max(1, res.acked);
            results.add(rows.rate, side, res.perSecond);
            results.add(rows.server, side, per(res.serverUsEach[0]!));
            if (rows.redis) results.add(rows.redis, side, per(res.redisUs));
            if (rows.others && servers.length > 1) results.add(rows.others, side, per(res.serverUs - res.serverUsEach[0]!));
            if (rows.total) results.add(rows.total, side, per(res.serverUs + res.redisUs));
          }
        }
      };

      if (only.has('inbound')) {
        const rows = { rate: 'acked inbound events/s', server: 'server CPU per inbound event', redis: 'Redis CPU per inbound event' };
        results.metric(rows.rate, 'per s', 'higher', { on: 'ratio', op: '>=', value: 0.95 });
        results.metric(rows.server, 'µs', 'lower');
        results.metric(rows.redis, 'µs', 'lower');
        await inboundRounds('inbound', 'inbound', rows);
      }
      // The same load with a listener in every room: on the bare server a second socket
      // of its own; for the project a socket on a SECOND project process, so that every
      // typing event crosses Redis (relayed to that process): what the cross-process path
      // costs, which the main row (nobody elsewhere) does not pay.
      if (only.has('inbound-remote') && cfg.memory) warn('--memory: skipping inbound-remote (in-memory processes share nothing)');
      if (only.has('inbound-remote') && !cfg.memory) {
        const rows = {
          rate: 'acked inbound events/s, listener on another process',
          server: 'server CPU per inbound event, listener elsewhere',
          others: 'listener process CPU per inbound event',
          redis: 'Redis CPU per inbound event, listener elsewhere',
          total: 'CPU per inbound event, listener elsewhere: every process and Redis',
        };
        const cpuRows = (r: typeof rows) => [r.server, r.others, r.redis, r.total];
        results.metric(rows.rate, 'per s', 'higher', { on: 'ratio', op: '>=', value: 0.85 });
        for (const row of cpuRows(rows)) results.metric(row, 'µs', 'lower');
        progress('starting a second project process and a listener socket per room');
        const second = await startProject({ name: 'project-2', prefix: redis.prefix, entry, env: metricsEnv });
        const listeners: Record<Side, Socket[]> = {
          bare: await connectMany(bare.url, cfg.sockets, [], 25),
          project: await connectMany(second.url, cfg.sockets, fanCookies, 25),
        };
        const joinOwnRooms = (sockets: Socket[]) => Promise.all(sockets.map((s, i) => ack(s, 'room:join', { roomId: ownRoom(i) }, 20_000)));
        for (const side of ['bare', 'project'] as const) await joinOwnRooms(listeners[side]);
        const remoteSides: Record<Side, LoopSide> = { bare: mainSides.bare, project: { ...mainSides.project, servers: [project, second] } };
        await inboundRounds('inbound-remote', 'inbound, listener elsewhere', rows, remoteSides);
        closeAll(listeners.bare);
        results.note(
          'inbound, listener elsewhere: "server CPU" is the sending process only (bare: its one process, which delivers to the listeners too); ' +
            '"listener process" is the second process (it writes the relayed events to the listeners); "every process and Redis" adds both and Redis',
        );

        // The same two-process load on bare Socket.IO made to span processes its own way (its
        // Redis adapter, sharded, a channel per room): what the cross-process path costs the
        // project against what it costs Socket.IO. The project's processes and sockets are the same.
        const adapterRows = Object.fromEntries(Object.entries(rows).map(([k, name]) => [k, `${name}, vs bare with its Redis adapter`])) as typeof rows;
        results.metric(adapterRows.rate, 'per s', 'higher');
        for (const row of cpuRows(adapterRows)) results.metric(row, 'µs', 'lower');
        progress('starting two bare Socket.IO processes with the Redis adapter, senders on one and listeners on the other');
        const env = { BARE_REDIS_URL: REDIS_URL, BARE_CHANNEL_PREFIX: `${redis.prefix}bare-io` };
        const bareAdapter = await Promise.all([startBare({ name: 'bare-redis-1', env }), startBare({ name: 'bare-redis-2', env })]);
        try {
          const senders = await connectMany(bareAdapter[0].url, cfg.sockets, [], 25);
          const bareListeners = await connectMany(bareAdapter[1].url, cfg.sockets, [], 25);
          await joinOwnRooms(senders);
          await joinOwnRooms(bareListeners);
          await inboundRounds('inbound-remote-adapter', 'inbound, listener elsewhere, vs bare with its Redis adapter', adapterRows, {
            bare: { servers: bareAdapter, sockets: senders, redis: redisCpu },
            project: remoteSides.project,
          });
          closeAll([...senders, ...bareListeners]);
        } finally {
          await Promise.all(bareAdapter.map((b) => b.stop()));
        }
        closeAll(listeners.project);
        await second.stop();
        results.note(
          'vs bare with its Redis adapter: two bare Socket.IO processes on @socket.io/redis-adapter (sharded, subscriptionMode dynamic), senders on one, listeners on the other; ' +
            'the project side is the same as in the rows above, measured again in rounds of its own',
        );
      }
      progress('closing the persistent sockets');
      await Promise.all((['bare', 'project'] as const).map((side) => closeAndSettle(targets[side], persistent[side], 0, handlesBefore[side])));
    }

    // ---- heap per idle socket -----------------------------------------------------
    if (only.has('heap')) {
      const idleCookies = fanCookies.slice(0, cfg.idleUsers);
      for (const n of cfg.idle) {
        const name = `heap per idle socket @${n}`;
        results.metric(name, 'bytes', 'lower', { on: 'ratio', op: '<=', value: 1.2 }, 0);
        for (const r of cfg.rounds > 1 ? [...Array(cfg.rounds).keys()] : [0]) {
          for (const side of order(r)) {
            progress(`heap ${label(r)}: ${side} with ${n} idle sockets`);
            // --heap-snapshots: before/after snapshots of the first timed round of each size.
            const snap = cfg.heapSnapshots && r === 0 ? `${cfg.heapSnapshots}/${side}-idle` : undefined;
            const res = await idleHeapRound(targets[side], n, side === 'project' ? idleCookies : [], { ...(snap && { snapshotPrefix: snap }) });
            if (res.failed) warn(`${side} heap: ${res.failed} of ${n} connects failed (${res.firstError})`);
            results.add(name, side, res.perSocket);
          }
        }
      }
      results.note(`heap: project sockets share the sessions of ${Math.min(cfg.idleUsers, fanCookies.length)} users (per-session state is amortised)`);
    }

    // ---- session liveness (project only) -----------------------------------------
    if (only.has('liveness')) {
      const [st, lo] = await registerUsers(project.url, run, 's', 2);
      const stSocket = await connectWithSession(project.url, st!.cookie);
      results.metric('staleness p99: PATCH /api/prefs → session', 'ms', 'lower', { on: 'absolute', op: '<=', value: 50 });
      results.metric('staleness p50: PATCH /api/prefs → session', 'ms', 'lower');
      results.metric('staleness p99: PATCH /api/me → session', 'ms', 'lower', { on: 'absolute', op: '<=', value: 50 });
      results.metric('logout→disconnect p99', 'ms', 'lower', { on: 'absolute', op: '<=', value: 100 });
      results.metric('logout→disconnect p50', 'ms', 'lower');
      let misses = 0;
      for (let r = 0; r < cfg.rounds; r++) {
        progress(`liveness ${label(r)}: ${cfg.liveness} × PATCH /api/prefs, PATCH /api/me, logout`);
        const prefs = await stalenessRound(st!, stSocket, 'prefs', cfg.liveness, `p${r}`);
        const me = await stalenessRound(st!, stSocket, 'me', cfg.liveness, `Bench ${run} ${r}`);
        const out = await logoutRound(project.url, lo!.username, cfg.liveness);
        misses += prefs.misses + me.misses + out.misses;
        results.add('staleness p99: PATCH /api/prefs → session', 'project', prefs.afterResponse.pct(99));
        results.add('staleness p50: PATCH /api/prefs → session', 'project', prefs.afterResponse.pct(50));
        results.add('staleness p99: PATCH /api/me → session', 'project', me.afterResponse.pct(99));
        results.add('logout→disconnect p99', 'project', out.toDisconnect.pct(99));
        results.add('logout→disconnect p50', 'project', out.toDisconnect.pct(50));
      }
      stSocket.close();
      if (misses) warn(`liveness: ${misses} changes or logouts never reached the socket (not counted)`);
      results.note('staleness = time from the HTTP response to the `session` event on an open socket (0 when the event came first)');
    }

    closeIdleHttp();
    progress('stopping servers');
    await Promise.all([bare.stop(), project.stop()]);
  }
  if (redis && cfg.memory && (only.has('scale') || only.has('storm'))) warn('--memory: skipping scale and storm (they need processes that share Redis)');

  // ---- many small rooms, and N idle sockets: processes of their own, rows in the main table ----
  const phaseCtx = { redis: redis!, redisCpu, results, run, entry, order, label, roundsWithWarmup, profile, noteForeign };
  if (redis && only.has('small-rooms')) await smallRoomsPhase({ ...phaseCtx, cfg });
  if (redis && only.has('idle-8k')) await idlePhase({ ...phaseCtx, cfg });

  // ---- scale: 1 project process against N, the same rooms spread over them --------
  if (redis && only.has('scale') && !cfg.memory) {
    await scalePhase({ cfg, redis, redisCpu, results: scaleResults, run, entry, order, label, roundsWithWarmup, profile, noteForeign });
    scaleResults.note(settingsNote);
  }

  // ---- reconnect storm: a deploy under 2,000 reconnecting sockets -----------------
  if (redis && only.has('storm') && !cfg.memory) {
    await stormPhase({ cfg, redis, redisCpu, results: stormResults, run, entry, order, label, roundsWithWarmup, profile, noteForeign });
    stormResults.note(settingsNote);
  }
  setWindowHooks(undefined);
  closeIdleHttp();
  await redis?.close();

  if (only.has('session-read')) {
    sessionReadText = await runSessionRead({
      rounds: cfg.sessionReadRounds,
      warmup: cfg.warmup,
      sockets: cfg.sockets,
      seconds: cfg.sessionReadSeconds,
      liveness: cfg.liveness,
      cpuProf: cfg.cpuProf,
    });
  }

  progressDone();
  const minutes = fmt((Date.now() - started) / 60_000, 1);
  const out: string[] = [];
  const rounds = `${cfg.rounds} round(s)${cfg.warmup ? ' after a warm-up' : ''}, medians`;
  const sections: Array<[string, Results]> = [
    [
      cfg.aa
        ? `## A/A: bare Socket.IO against a second bare Socket.IO process (${rounds}; ratio = B/A, median of per-round ratios)`
        : `## project vs bare Socket.IO (${rounds}; ratio = project/bare, median of per-round ratios)`,
      results,
    ],
    [`## scale: 1 project process vs ${cfg.scaleProcesses} (${rounds}; ratio = ${cfg.scaleProcesses} processes / 1 process, median of per-round ratios)`, scaleResults],
    [`## reconnect storm: a deploy (SIGTERM, replacement on the same port) under ${fmt(cfg.stormSockets, 0)} reconnecting sockets, project vs bare Socket.IO (${rounds}; ratio = project/bare)`, stormResults],
  ];
  for (const [title, section] of sections.filter(([, r]) => r.metrics.size)) {
    if (out.length) out.push('');
    out.push(title, '');
    out.push(renderTable(section), '');
    out.push('Per round (in order):', renderRounds(section), '');
    for (const n of section.notes) out.push(`Note: ${n}`);
  }
  if (out.length) {
    if (clientBusy.size) {
      const parts = [...clientBusy].map(([what, v]) => `${what} ${fmt(median(v), 0)}%`);
      out.push(`Note: load generator CPU (% of one core, median; near 100% = client-bound): ${parts.join(', ')}`);
    }
    if (foreign.length) {
      out.push(`Note: other processes on this machine used ${fmt(median(foreign), 0)}% (median) / ${fmt(Math.max(...foreign), 0)}% (max) of its CPU during the timed rounds`);
    }
  }
  if (sessionReadText) out.push('', sessionReadText);
  out.push('', `(${minutes} min; node ${process.version}; ${cpuCount()} CPUs; load average at start ${loadAtStart}; checkout ${gitState(repoRoot)})`);
  process.stdout.write(`${out.join('\n')}\n`);
  if (cfg.json) writeFileSync(cfg.json, JSON.stringify({ config: cfg, ...toJson(results), scale: toJson(scaleResults), storm: toJson(stormResults) }, null, 2));
  if (cfg.cpuProf) process.stderr.write(`CPU profiles of the timed rounds (both servers) written to ${cfg.cpuProf}\n`);
  if (cfg.promotedProf) process.stderr.write(`heap profiles of what the timed rounds promoted (both servers) written to ${cfg.promotedProf}\n`);
  if (cfg.allocProf) process.stderr.write(`heap profiles of everything the timed rounds allocated (both servers) written to ${cfg.allocProf}\n`);
}

function cpuCount() {
  return availableParallelism();
}

/**
 * Warns when the open-file limit is too low for the most sockets a phase holds at
 * once: this process holds the client sockets, and each server child (which
 * inherits the limit) as many.
 */
function checkFileLimit(needs: Array<[phase: string, sockets: number]>) {
  const [phase, sockets] = needs.reduce((a, b) => (b[1] > a[1] ? b : a));
  try {
    const limit = Number(execFileSync('sh', ['-c', 'ulimit -n']).toString().trim());
    if (Number.isFinite(limit) && limit < sockets + 1000) {
      warn(
        `ulimit -n is ${limit}, too low: the ${phase} phase holds ${sockets} sockets at once in this process (and as many in the server); ` +
          `connects will fail with EMFILE. Raise it first: \`ulimit -n ${sockets * 2 + 2000}\``,
      );
    }
  } catch {
    // no shell: nothing to check
  }
}

runMain('bench', main);
