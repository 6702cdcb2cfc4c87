/**
 * Issue 4's session-read bench: events per second for a handler that reads the
 * session, three variants against the same server in the same run (interleaved,
 * rotating order):
 *   none   → the handler reads no session at all (the ceiling)
 *   live   → live.session(socket), socket.io-live-session's live view
 *   reload → a store round trip per event (sessionStore.read(sid)): the "reload
 *            the session in each handler" pattern of Socket.IO's express-session how-to
 * The server is bench/app-server.ts (the real createApp wiring, Redis mode) with
 * one bench-only event, `bench:whoami {v}`. Also: staleness p99 and
 * logout-to-disconnect p99 against the same server.
 *
 *   npx tsx bench/session-read.ts [--rounds=5] [--sockets=100] [--seconds=2] [--liveness=50] [--quick] [--cpu-prof=DIR] [--wait-quiet=60]
 *   npm run bench -- --only=session-read
 */
import { pathToFileURL } from 'node:url';
import { installCleanup, runMain } from './lib/children.js';
import { closeIdleHttp, runId } from './lib/http.js';
import { registerUsers, startProject } from './lib/project.js';
import { openBenchRedis } from './lib/redis.js';
import { closeAndSettle, closedLoopRound, connectWithSession, logoutRound, setQuietBeforeRounds, setWindowHooks, stalenessRound } from './lib/scenarios.js';
import { connectMany } from './lib/sockets.js';
import { fmt, markdownTable, median, Options, parseArgs, progress, progressDone, warn } from './lib/util.js';

export interface SessionReadConfig {
  rounds: number;
  warmup: boolean;
  sockets: number;
  seconds: number;
  liveness: number;
  /** Sessions the sockets are spread over. */
  users?: number;
  /** Write V8 profiles of the timed rounds here (sread-<variant>-<n>.cpuprofile). */
  cpuProf?: string | undefined;
}

const VARIANTS = ['none', 'live', 'reload'] as const;
type Variant = (typeof VARIANTS)[number];

/** Runs the bench and returns its report (markdown). */
export async function runSessionRead(cfg: SessionReadConfig): Promise<string> {
  const redis = await openBenchRedis('sread');
  const redisCpu = () => redis.reading();
  progress('session-read: starting the project (bench/app-server.ts, Redis mode, bench:whoami)');
  const server = await startProject({ name: 'session-read', entry: 'bench/app-server.ts', prefix: redis.prefix, env: { BENCH_WHOAMI: '1' } });
  try {
    const run = runId();
    const users = await registerUsers(server.url, run, 'r', Math.min(cfg.users ?? 20, cfg.sockets));
    const sockets = await connectMany(server.url, cfg.sockets, users.map((u) => u.cookie), 25);

    // Two loads: many sockets in a closed loop (throughput: CPU-bound), and one socket
    // alone (latency-bound: a store round trip per event shows up in full).
    const MODES = ['many', 'one'] as const;
    type Mode = (typeof MODES)[number];
    const perVariant = () => ({ none: [] as number[], live: [] as number[], reload: [] as number[] });
    const rate: Record<Mode, Record<Variant, number[]>> = { many: perVariant(), one: perVariant() };
    const cpu: Record<Mode, Record<Variant, number[]>> = { many: perVariant(), one: perVariant() };
    const redisUs: Record<Mode, Record<Variant, number[]>> = { many: perVariant(), one: perVariant() };
    const foreign: number[] = [];
    const profiled = new Map<string, number>();
    const rounds = [...(cfg.warmup ? [-1] : []), ...Array.from({ length: cfg.rounds }, (_, i) => i)];
    for (const r of rounds) {
      // Rotate the order each round so that no variant always goes first.
      const shift = ((r % VARIANTS.length) + VARIANTS.length) % VARIANTS.length;
      const order = [...VARIANTS.slice(shift), ...VARIANTS.slice(0, shift)];
      for (const mode of MODES) {
        const group = mode === 'many' ? sockets : sockets.slice(0, 1);
        for (const v of order) {
          progress(`session-read ${r < 0 ? 'warm-up' : `round ${r + 1}/${cfg.rounds}`}: ${v}, ${group.length} socket(s), ${cfg.seconds} s`);
          const key = `${mode}-${v}`;
          const n = (profiled.get(key) ?? 0) + 1;
          if (cfg.cpuProf && r >= 0) {
            profiled.set(key, n);
            setWindowHooks({ before: (srv) => srv.profileStart(), after: (srv) => srv.profileStop(`${cfg.cpuProf}/sread-${key}-${n}.cpuprofile`) });
          }
          const res = await closedLoopRound(server, redisCpu, group, 'bench:whoami', () => ({ v }), cfg.seconds).finally(() => setWindowHooks(undefined));
          if (res.failed) warn(`session-read ${v}: ${res.failed} acks not ok (${res.firstFailure})`);
          if (r < 0) continue;
          foreign.push(res.foreignPct);
          if (res.foreignPct > 15) warn(`session-read ${v}: other processes used ${fmt(res.foreignPct, 0)}% of the machine during this round (noisy)`);
          rate[mode][v].push(res.perSecond);
          cpu[mode][v].push(res.serverUs / Math.max(1, res.acked));
          redisUs[mode][v].push(res.redisUs / Math.max(1, res.acked));
        }
      }
    }
    await closeAndSettle(server, sockets, 0);

    progress(`session-read: liveness (${cfg.liveness} × prefs/me changes, logouts)`);
    const [st, lo] = await registerUsers(server.url, run, 't', 2);
    const stSocket = await connectWithSession(server.url, st!.cookie);
    const p99s = { prefs: [] as number[], me: [] as number[], logout: [] as number[] };
    for (let r = 0; r < cfg.rounds; r++) {
      p99s.prefs.push((await stalenessRound(st!, stSocket, 'prefs', cfg.liveness, 'x')).afterResponse.pct(99));
      p99s.me.push((await stalenessRound(st!, stSocket, 'me', cfg.liveness, `Reader ${r}`)).afterResponse.pct(99));
      p99s.logout.push((await logoutRound(server.url, lo!.username, cfg.liveness)).toDisconnect.pct(99));
    }
    stSocket.close();
    closeIdleHttp();

    const ratios = (mode: Mode, a: Variant, b: Variant) => median(rate[mode][a].map((x, i) => x / rate[mode][b][i]!));
    const liveVsNone = ratios('many', 'live', 'none');
    const liveVsReloadOne = ratios('one', 'live', 'reload');
    const liveVsReloadMany = ratios('many', 'live', 'reload');
    const rows = VARIANTS.map((v) => [
      v,
      fmt(median(rate.many[v])),
      `${fmt(ratios('many', v, 'none'), 2)}×`,
      fmt(median(rate.one[v])),
      `${fmt(ratios('one', v, 'none'), 2)}×`,
      fmt(median(cpu.many[v]), 1),
      fmt(median(redisUs.many[v]), 1),
      `${rate.many[v].map((x) => fmt(x)).join(' / ')}; ${rate.one[v].map((x) => fmt(x)).join(' / ')}`,
    ]);
    const verdictOf = (ok: boolean) => (ok ? 'PASS' : 'FAIL');
    const lines = [
      `## session read per event (${cfg.rounds} round(s) of ${cfg.seconds} s, ${cfg.sockets} sockets over ${users.length} sessions / 1 socket, closed loop, medians)`,
      '',
      markdownTable(
        ['variant', `events/s, ${cfg.sockets} sockets`, 'vs none', 'events/s, 1 socket', 'vs none', `server CPU µs/event (${cfg.sockets})`, `Redis CPU µs/event (${cfg.sockets})`, 'per round (many; one)'],
        rows,
      ),
      '',
      markdownTable(
        ['check', 'value', 'target'],
        [
          [`live view vs no session read (${cfg.sockets} sockets)`, `${fmt(liveVsNone, 2)}×`, `≥ 0.9× ${verdictOf(liveVsNone >= 0.9)}`],
          ['live view vs reload per event (1 socket: latency-bound)', `${fmt(liveVsReloadOne, 2)}×`, `≥ 1.2× (clearly faster) ${verdictOf(liveVsReloadOne >= 1.2)}`],
          [`live view vs reload per event (${cfg.sockets} sockets: CPU-bound)`, `${fmt(liveVsReloadMany, 2)}×`, '—'],
          ['staleness p99: PATCH /api/prefs → session', `${fmt(median(p99s.prefs), 1)} ms`, `≤ 50 ms ${verdictOf(median(p99s.prefs) <= 50)}`],
          ['staleness p99: PATCH /api/me → session', `${fmt(median(p99s.me), 1)} ms`, `≤ 50 ms ${verdictOf(median(p99s.me) <= 50)}`],
          ['logout→disconnect p99', `${fmt(median(p99s.logout), 1)} ms`, `≤ 100 ms ${verdictOf(median(p99s.logout) <= 100)}`],
        ],
      ),
    ];
    lines.push('', `Note: other processes on this machine used ${fmt(median(foreign), 0)}% (median) / ${fmt(Math.max(...foreign), 0)}% (max) of its CPU during the timed rounds.`);
    return lines.join('\n');
  } finally {
    await server.stop();
    await redis.close();
  }
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  installCleanup();
  const opts = new Options(parseArgs(process.argv.slice(2)));
  const quick = opts.flag('quick', false);
  const cfg: SessionReadConfig = {
    rounds: opts.int('rounds', quick ? 1 : 5, 1, 50),
    warmup: opts.flag('warmup', true),
    sockets: opts.int('sockets', quick ? 50 : 100, 1, 5000),
    seconds: opts.int('seconds', quick ? 1 : 2, 0.2, 120),
    liveness: opts.int('liveness', quick ? 15 : 50, 1, 10_000),
    users: opts.int('users', 20, 1, 1000),
    cpuProf: opts.str('cpu-prof'),
  };
  const waitQuiet = opts.int('wait-quiet', 0, 0, 3600);
  opts.assertAllUsed();
  if (waitQuiet) setQuietBeforeRounds(Math.min(waitQuiet, 60));
  runMain('session-read', async () => {
    const text = await runSessionRead(cfg);
    progressDone();
    process.stdout.write(`${text}\n`);
  });
}
