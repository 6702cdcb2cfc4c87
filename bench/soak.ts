/**
 * `npm run soak`: 2,000 sockets churning against the project in Redis mode
 * (bench/app-server.ts: the real createApp wiring, under the heap probe).
 * Sockets connect, live a random while (some join a room and send `typing` and
 * `message:send`), disconnect, and connect again; every few seconds one user's
 * session is replaced (login a new one, log the old one out), so sockets are
 * also ended by the server. Heap after GC and the server's holdings are taken
 * after a warm-up with every socket gone, and again at the end with every
 * socket gone: they must match.
 *
 *   npm run soak                        2 minutes
 *   npm run soak -- --seconds=30        shorter
 *   options: --sockets=2000 --users=20 --warmup=15 (s) --min-life=5000 --max-life=20000 (ms)
 *            --ramp=5 (s over which the first connects of a phase are spread)
 *            --revoke-every=5 (s, 0 = never) --tolerance=10 (% heap)
 *            --cpu-prof=FILE.cpuprofile (V8 profile of the server during the soak phase)
 * Exit code 0 when every check passes, 1 otherwise.
 */
import { redisKeys } from '../src/store/keys.js';
import { installCleanup, repoRoot, runMain, type ServerChild } from './lib/children.js';
import { closeIdleHttp, HttpUser, runId } from './lib/http.js';
import type { StatsReport } from './lib/probe-protocol.js';
import { registerUsers, startProject } from './lib/project.js';
import { openBenchRedis, type BenchRedis } from './lib/redis.js';
import { quiesce } from './lib/scenarios.js';
import { makeSocket, type Socket } from './lib/sockets.js';
import { fmt, gitState, markdownTable, Options, parseArgs, progress, progressDone, sleep, waitUntil, warn } from './lib/util.js';

interface Counters {
  connects: number;
  connectErrors: number;
  firstConnectError?: string;
  connectErrorKinds: Map<string, number>;
  serverEnded: number;
  typingOk: number;
  sendsOk: number;
  sendsLimited: number;
  ackFailures: number;
  ackFailureKinds: Map<string, number>;
  revocations: number;
  open: number;
  peakOpen: number;
}

async function main() {
  const opts = new Options(parseArgs(process.argv.slice(2)));
  const seconds = opts.int('seconds', 120, 1, 24 * 3600);
  const cfg = {
    seconds,
    sockets: opts.int('sockets', 2000, 1, 20_000),
    users: opts.int('users', 20, 2, 1000),
    warmup: opts.int('warmup', Math.min(20, Math.max(5, Math.round(seconds / 3))), 1, 3600),
    minLife: opts.int('min-life', 5000, 10, 600_000),
    maxLife: opts.int('max-life', 20000, 10, 600_000),
    ramp: opts.int('ramp', 5, 0, 600),
    revokeEvery: opts.int('revoke-every', 5, 0, 3600),
    tolerance: opts.int('tolerance', 10, 0, 100),
    cpuProf: opts.str('cpu-prof'),
  };
  opts.assertAllUsed();
  if (cfg.maxLife < cfg.minLife) throw new Error('--max-life must be ≥ --min-life');
  installCleanup();

  const redis = await openBenchRedis('soak');
  progress('soak: starting the project (bench/app-server.ts, Redis mode)');
  const server = await startProject({ name: 'soak', entry: 'bench/app-server.ts', prefix: redis.prefix, env: { BENCH_TRACK_TIMERS: '1' }, nodeFlags: ['--expose-internals'] });
  // TCP handles of a server nobody talks to yet: its Redis connections.
  const baseTcp = (await server.stats()).resources.TCPSocketWrap ?? 0;
  const run = runId();
  const users = await registerUsers(server.url, run, 'k', cfg.users);
  // Chatty sockets join the room of their user (20 rooms), so `typing` fans out to
  // about a 20th of the sockets rather than all of them.
  const roomOf = (i: number) => `soak-${run}-${i % users.length}`;
  await Promise.all(users.map((u, i) => u.expect('POST', '/api/rooms', 201, { id: roomOf(i) })));

  progress(`soak: warm-up, ${cfg.sockets} sockets churning for ${cfg.warmup} s`);
  const warm = await churn(server, users, roomOf, cfg, cfg.warmup * 1000, 'warm-up');
  closeIdleHttp();
  const startDrain = await drain(server, redis, baseTcp, 'after warm-up');
  const heapStart = await server.heap();
  const statsStart = await stableStats(server);
  const presenceStart = await presenceCount(redis);

  progress(`soak: ${cfg.sockets} sockets churning for ${cfg.seconds} s`);
  if (cfg.cpuProf) await server.profileStart();
  const main = await churn(server, users, roomOf, cfg, cfg.seconds * 1000, 'soak');
  if (cfg.cpuProf) await server.profileStop(cfg.cpuProf);
  closeIdleHttp();
  const endDrain = await drain(server, redis, baseTcp, 'at the end');
  const heapEnd = await server.heap();
  const statsEnd = await stableStats(server);
  const presenceEnd = await presenceCount(redis);
  progressDone();

  // ---- checks ----------------------------------------------------------------------
  type Row = { check: string; start: string; end: string; ok: boolean };
  const rows: Row[] = [];
  const growth = (heapEnd.heapUsed - heapStart.heapUsed) / heapStart.heapUsed;
  rows.push({
    check: `heap used after GC (within ±${cfg.tolerance}%)`,
    start: `${fmt(heapStart.heapUsed / 1048576, 2)} MiB`,
    end: `${fmt(heapEnd.heapUsed / 1048576, 2)} MiB (${growth >= 0 ? '+' : ''}${fmt(growth * 100, 1)}%)`,
    ok: Math.abs(growth) * 100 <= cfg.tolerance,
  });
  rows.push({ check: 'rss (information)', start: `${fmt(heapStart.rss / 1048576, 1)} MiB`, end: `${fmt(heapEnd.rss / 1048576, 1)} MiB`, ok: true });
  for (const key of ['engineClients', 'sockets', 'liveSessions', 'adapterSids']) {
    rows.push({ check: `${key} back to 0`, start: String(statsStart.app[key] ?? '?'), end: String(statsEnd.app[key] ?? '?'), ok: statsEnd.app[key] === 0 && statsStart.app[key] === 0 });
  }
  rows.push({ check: 'adapter rooms (no growth)', start: String(statsStart.app.adapterRooms), end: String(statsEnd.app.adapterRooms), ok: (statsEnd.app.adapterRooms ?? 0) <= (statsStart.app.adapterRooms ?? 0) });
  for (const key of ['httpServerListeners', 'engineListeners', 'namespaceListeners', 'redisClientListeners', 'redisSubscriberListeners']) {
    rows.push({ check: `${key} (no growth)`, start: String(statsStart.app[key]), end: String(statsEnd.app[key]), ok: (statsEnd.app[key] ?? 0) <= (statsStart.app[key] ?? 0) });
  }
  rows.push({ check: 'process listeners (no growth)', start: String(statsStart.processListeners), end: String(statsEnd.processListeners), ok: statsEnd.processListeners <= statsStart.processListeners });
  // Timers and handles: a socket's timer or handle that outlives it would show as growth here.
  // Handles that keep the loop alive (getActiveResourcesInfo) must match exactly; every
  // pending timer (unref'd ones too, from Node's timer lists) gets a slack of 3 for work
  // in flight (a heartbeat, a lock retry), far below one per socket of the churn.
  const grow = (label: string, a: Record<string, number>, b: Record<string, number>, slack: number) => {
    for (const type of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
      const x = a[type] ?? 0;
      const y = b[type] ?? 0;
      rows.push({ check: `${label} ${type} (no growth${slack ? `, slack ${slack}` : ''})`, start: String(x), end: String(y), ok: y <= x + slack });
    }
  };
  grow('active handle', statsStart.resources, statsEnd.resources, 0);
  const byDuration = (t: Record<string, number>) =>
    Object.entries(t)
      .filter(([k]) => k !== 'Timeout')
      .map(([k, v]) => `${v}×${k}`)
      .join(', ');
  const t0 = statsStart.timers.Timeout ?? 0;
  const t1 = statsEnd.timers.Timeout ?? 0;
  rows.push({
    check: 'pending timers, unref\'d too (no growth, slack 3)',
    start: `${t0} (${byDuration(statsStart.timers)})`,
    end: `${t1} (${byDuration(statsEnd.timers)})`,
    ok: t1 <= t0 + 3,
  });
  rows.push({ check: 'users online in Redis presence', start: String(presenceStart), end: String(presenceEnd), ok: presenceEnd === 0 });
  const drained = (d: Drain) => `sockets ${d.sockets === undefined ? 'NOT' : `in ${fmt(d.sockets / 1000, 1)} s`}, TCP ${d.tcp === undefined ? 'NOT' : `in ${fmt(d.tcp / 1000, 1)} s`}`;
  rows.push({
    check: 'server let go of every socket and TCP connection (≤ 60 s)',
    start: drained(startDrain),
    end: drained(endDrain),
    ok: [startDrain.sockets, startDrain.tcp, endDrain.sockets, endDrain.tcp].every((x) => x !== undefined),
  });

  // What the server logged (LOG_LEVEL=warn): warnings and errors, counted by message.
  const logged = new Map<string, number>();
  for (const line of server.output().split('\n')) {
    const m = /"level":(\d+).*?"msg":"([^"]*)"/.exec(line);
    if (m && Number(m[1]) >= 40) logged.set(`${m[1] === '40' ? 'warn' : 'error'}: ${m[2]}`, (logged.get(`${m[1] === '40' ? 'warn' : 'error'}: ${m[2]}`) ?? 0) + 1);
  }
  const pass = rows.every((r) => r.ok);
  const summary = (c: Counters, s: number) =>
    `${fmt(c.connects, 0)} connects (${fmt(c.connects / s, 0)}/s, ${c.connectErrors} refused or failed${c.connectErrors ? `: ${[...c.connectErrorKinds].map(([k, n]) => `${n}× ${k}`).join(', ')}` : ''}), ` +
    `peak ${c.peakOpen} open, ${c.serverEnded} ended by the server (${c.revocations} sessions replaced), ` +
    `${fmt(c.typingOk, 0)} typing acked, ${c.sendsOk} messages sent + ${c.sendsLimited} rate_limited, ${c.ackFailures} other ack failures${c.ackFailures ? ` (${[...c.ackFailureKinds].map(([k, n]) => `${n}× ${k}`).join(', ')})` : ''}`;
  const out = [
    `## soak: ${cfg.sockets} sockets churning for ${cfg.seconds} s (after ${cfg.warmup} s warm-up), ${cfg.users} users, life ${cfg.minLife}-${cfg.maxLife} ms`,
    '',
    `- warm-up: ${summary(warm, cfg.warmup)}`,
    `- soak: ${summary(main, cfg.seconds)}`,
    `- server log (warn and above): ${logged.size ? [...logged].map(([k, n]) => `${n}× ${k}`).join('; ') : 'nothing'}`,
    '',
    markdownTable(['check', 'start (after warm-up, all closed)', 'end (all closed)', 'verdict'], rows.map((r) => [r.check, r.start, r.end, r.ok ? 'PASS' : 'FAIL'])),
    '',
    'A refused connect (`unauthorized`) is expected now and then: a slot may use a session the instant after it was replaced.',
    '',
    `(node ${process.version}; checkout ${gitState(repoRoot)})`,
    '',
    `soak ${pass ? 'PASS' : 'FAIL'}`,
  ];
  process.stdout.write(`${out.join('\n')}\n`);

  await server.stop();
  await redis.close();
  return pass;
}

interface Drain {
  /** ms until the server held no socket and no live session (undefined: not within the limit). */
  sockets: number | undefined;
  /** ms until its TCP connections were back to the idle baseline (undefined: not within the limit). */
  tcp: number | undefined;
}

/** Waits until the server holds no socket, no live session and no client TCP connection, then until it is idle. */
async function drain(server: ServerChild, redis: BenchRedis, baseTcp: number, when: string): Promise<Drain> {
  progress(`soak: waiting for the server to let go of every socket (${when})`);
  const t0 = Date.now();
  const out: Drain = { sockets: undefined, tcp: undefined };
  await waitUntil(async () => {
    const s = await server.stats();
    if (out.sockets === undefined && s.app.engineClients === 0 && s.app.sockets === 0 && s.app.liveSessions === 0) out.sockets = Date.now() - t0;
    if (out.tcp === undefined && (s.resources.TCPSocketWrap ?? 0) <= baseTcp) out.tcp = Date.now() - t0;
    return out.sockets !== undefined && out.tcp !== undefined;
  }, 60_000, 100);
  if (out.sockets === undefined || out.tcp === undefined) {
    const s = await server.stats();
    warn(`${when}: the server still holds ${JSON.stringify(s.app)} and ${s.resources.TCPSocketWrap} TCP handles (idle baseline ${baseTcp})`);
  }
  // The last sockets' users stay online for the presence grace period (PRESENCE_GRACE_MS, 5 s):
  // its timers are work in flight, not leaks, until it ends.
  if (!(await waitUntil(async () => (await presenceCount(redis)) === 0, 15_000, 100))) warn(`${when}: users still online in Redis presence`);
  await sleep(500);
  await quiesce(server);
  return out;
}

/** Stats sampled a few times: the smallest count of each resource (timers come and go). */
async function stableStats(server: ServerChild): Promise<StatsReport> {
  let best = await server.stats();
  for (let i = 0; i < 5; i++) {
    await sleep(200);
    const s = await server.stats();
    for (const key of ['resources', 'timers'] as const) {
      for (const [k, v] of Object.entries(s[key])) best[key][k] = Math.min(best[key][k] ?? v, v);
      for (const k of Object.keys(best[key])) if (!(k in s[key])) best[key][k] = 0;
    }
    best = { ...best, processListeners: Math.min(best.processListeners, s.processListeners) };
  }
  return best;
}

/** Users online in Redis presence, those in their grace period included. */
async function presenceCount(redis: BenchRedis): Promise<number> {
  return redis.client.sCard(redisKeys(redis.prefix).presence);
}

/** Runs the churn for `ms`, then stops every slot and closes every socket. */
async function churn(
  server: ServerChild,
  users: HttpUser[],
  roomOf: (i: number) => string,
  cfg: { sockets: number; minLife: number; maxLife: number; revokeEvery: number; ramp: number },
  ms: number,
  phase: string,
): Promise<Counters> {
  const c: Counters = { connects: 0, connectErrors: 0, connectErrorKinds: new Map(), serverEnded: 0, typingOk: 0, sendsOk: 0, sendsLimited: 0, ackFailures: 0, ackFailureKinds: new Map(), revocations: 0, open: 0, peakOpen: 0 };
  const cookies = users.map((u) => u.cookie);
  const started = Date.now();
  const deadline = started + ms;
  let stopping = false;
  let wakeAll!: () => void;
  const stopped = new Promise<void>((r) => (wakeAll = r));
  const rand = (a: number, b: number) => a + Math.random() * (b - a);
  const ackFailed = (what: string) => {
    c.ackFailures++;
    c.ackFailureKinds.set(what, (c.ackFailureKinds.get(what) ?? 0) + 1);
  };

  const slot = async (i: number) => {
    // Spread the first connects: a burst of thousands would overflow the server's
    // accept queue (Node's default listen backlog is 511) and be reset.
    await sleep(rand(0, cfg.ramp * 1000));
    while (!stopping && Date.now() < deadline) {
      const s: Socket = makeSocket(server.url, cookies[i % cookies.length]);
      const ended = new Promise<'server' | 'other'>((resolve) => {
        s.once('session:ended', () => resolve('server'));
        s.once('disconnect', (reason: string) => resolve(reason === 'io server disconnect' ? 'server' : 'other'));
      });
      const connected = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 20_000);
        s.once('connect', () => (clearTimeout(timer), resolve(true)));
        s.once('connect_error', (err: Error & { description?: unknown }) => {
          clearTimeout(timer);
          const d = err.description as { message?: string; error?: { message?: string } } | undefined;
          const detail = d?.message ?? d?.error?.message ?? (typeof d === 'number' ? String(d) : undefined);
          const key = detail ? `${err.message} (${detail})` : err.message;
          c.connectErrorKinds.set(key, (c.connectErrorKinds.get(key) ?? 0) + 1);
          c.firstConnectError ??= key;
          resolve(false);
        });
      });
      if (!connected) {
        c.connectErrors++;
        s.close();
        await sleep(rand(100, 500));
        continue;
      }
      c.connects++;
      c.peakOpen = Math.max(c.peakOpen, ++c.open);
      const life = sleep(rand(cfg.minLife, cfg.maxLife));
      const roll = Math.random();
      if (roll < 0.3) {
        // A chatty one: joins the room, types every second, sometimes sends.
        void (async () => {
          const roomId = roomOf(i);
          const joined = await s.timeout(10_000).emitWithAck('room:join', { roomId }).catch(() => null) as { ok?: boolean; error?: { code?: string; message?: string } } | null;
          if (!s.connected) return;
          if (!joined?.ok) return ackFailed(`room:join: ${joined?.error?.message ?? joined?.error?.code ?? 'no ack'}`);
          while (s.connected && !stopping) {
            const t = await s.timeout(10_000).emitWithAck('typing', { roomId, typing: true }).catch(() => null) as { ok?: boolean; error?: { code?: string } } | null;
            if (!s.connected) return;
            if (t?.ok) c.typingOk++;
            else ackFailed(`typing: ${t?.error?.code ?? 'no ack'}`);
            if (Math.random() < 0.1) {
              const m = await s.timeout(10_000).emitWithAck('message:send', { roomId, text: `soak ${i}` }).catch(() => null) as { ok?: boolean; error?: { code?: string } } | null;
              if (!s.connected) return;
              if (m?.ok) c.sendsOk++;
              else if (m?.error?.code === 'rate_limited') c.sendsLimited++;
              else ackFailed(`message:send: ${m?.error?.code ?? 'no ack'}`);
            }
            await sleep(rand(1000, 3000));
          }
        })();
      }
      const how = await Promise.race([life.then(() => 'life' as const), ended, stopped.then(() => 'stop' as const)]);
      if (how === 'server') c.serverEnded++;
      c.open--;
      s.close();
      await sleep(rand(0, 300));
    }
  };

  // Every few seconds one user's session is replaced: its sockets are ended by the server.
  const revoker = async () => {
    if (!cfg.revokeEvery) return;
    let j = 0;
    while (!stopping && Date.now() < deadline) {
      await Promise.race([sleep(cfg.revokeEvery * 1000), stopped]);
      if (stopping || Date.now() >= deadline) return;
      const k = j++ % users.length;
      const old = users[k]!;
      const fresh = new HttpUser(server.url);
      try {
        await fresh.login(old.username);
        users[k] = fresh;
        cookies[k] = fresh.cookie;
        await old.logout();
        c.revocations++;
      } catch (err) {
        warn(`session replacement failed: ${String(err)}`);
      }
    }
  };

  const ticker = setInterval(() => {
    void server
      .stats()
      .then((s) =>
        progress(
          `${phase} ${fmt((Date.now() - started) / 1000, 0)}/${fmt(ms / 1000, 0)} s: ${c.open} open (server ${s.app.engineClients}, ${s.app.liveSessions} live sessions), ` +
            `${fmt(c.connects, 0)} connects, ${c.connectErrors} errors, ${c.serverEnded} ended by server`,
        ),
      )
      .catch(() => undefined);
  }, 2000);
  const stopTimer = setTimeout(() => {
    stopping = true;
    wakeAll();
  }, ms);
  try {
    await Promise.all([...Array.from({ length: cfg.sockets }, (_, i) => slot(i)), revoker()]);
  } finally {
    clearInterval(ticker);
    clearTimeout(stopTimer);
    stopping = true;
    wakeAll();
  }
  return c;
}

runMain('soak', async () => ((await main()) ? 0 : 1));
