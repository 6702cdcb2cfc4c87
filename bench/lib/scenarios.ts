/**
 * The workloads, each one bounded in time, written once and run against any
 * server child (bare or project). Every round measures the server's own CPU
 * time too (over the probe), which stays meaningful even when the load
 * generator, sharing the machine, is the bottleneck.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { cpuSpent, type ServerChild } from './children.js';
import { gcSpent, gcSum, type GcTotals } from './probe-protocol.js';
import { HttpUser } from './http.js';
import { SEND_LIMIT, SEND_WINDOW_MS } from './project.js';
import type { RedisReading } from './redis.js';
import { ack, closeAll, connect, makeSocket, type Reconnection, type Socket } from './sockets.js';
import { fmt, now, pool, progress, Samples, sleep, waitUntil } from './util.js';

/** Redis CPU seconds and commands so far (the project's share of work that is not in its process); zeros for none. */
export type RedisCpu = () => Promise<RedisReading>;
const noRedis: RedisCpu = async () => ({ cpuSeconds: 0, commands: 0 });

export interface CpuWindow {
  /** Server process CPU, µs (summed over the processes measured). */
  serverUs: number;
  /** Each measured process's CPU, µs, in the order given. */
  serverUsEach: number[];
  /** Redis CPU, µs. */
  redisUs: number;
  /** The measured processes' garbage collections in the window (summed), as their event-loop threads paused for them. */
  gc: GcTotals;
  /** Of serverUs, the event-loop threads' (NaN without /proc); the rest is helper threads' (the collector's parallel and concurrent work, the compiler). */
  serverMainUs: number;
  /** Commands Redis ran (every client's, a script's own commands included). */
  redisCommands: number;
  /**
   * CPU used on this machine by processes other than the server, Redis and this
   * load generator during the window, as % of all cores (NaN where /proc/stat is
   * missing). High values mean the round shared the machine with something else.
   */
  foreignPct: number;
  /** This load generator's CPU during the window, % of one core (near 100: the client is the bottleneck). */
  clientPct: number;
}

/** Total busy CPU of the machine in µs (from /proc/stat; USER_HZ = 100), or NaN. */
function machineBusyUs(): number {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = (f[3] ?? 0) + (f[4] ?? 0);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    return (total - idle) * 10_000;
  } catch {
    return NaN;
  }
}

/**
 * Waits (at most `maxSeconds`) until the machine is quiet: busy below `threshold`%
 * of all cores over a 2 s window. Resolves with the last busy % seen.
 */
export async function waitForQuietMachine(maxSeconds: number, threshold = 15, onWait?: (busyPct: number) => void, windowMs = 2000): Promise<number> {
  const deadline = Date.now() + maxSeconds * 1000;
  for (;;) {
    const a = machineBusyUs();
    const t0 = now();
    await sleep(windowMs);
    const busy = ((machineBusyUs() - a) / ((now() - t0) * 1000 * availableParallelism())) * 100;
    if (!Number.isFinite(busy) || busy < threshold || Date.now() > deadline) return busy;
    onWait?.(busy);
  }
}

/**
 * Called around every timed window (not around warm-ups' setup or teardown):
 * run.ts --cpu-prof uses it to profile exactly the timed work.
 */
export interface WindowHooks {
  before(server: ServerChild): Promise<void>;
  after(server: ServerChild): Promise<void>;
}
let windowHooks: WindowHooks | undefined;
let quietBeforeRounds = 0;
/** Before every timed window, wait up to `maxSeconds` for other processes to leave the CPUs (0: never). */
export function setQuietBeforeRounds(maxSeconds: number) {
  quietBeforeRounds = maxSeconds;
}
export function setWindowHooks(hooks: WindowHooks | undefined) {
  windowHooks = hooks;
}

/**
 * The load generator's own full collection (this process's; the servers are not touched),
 * run before every timed window: the garbage of the rounds before (a handshake round closes
 * thousands of client sockets) is collected between rounds, not in whichever side's window
 * the collector would pick, the same way in every run. Without it, identical servers
 * (`--aa`) came out with the project's place ahead on handshakes/s in most runs; with it,
 * not (bench/HISTORY.md, 2026-12-04). `--expose-gc` is set here, at run time, since the bench
 * runs under tsx (npm run bench, the tests) without node flags of its own.
 */
setFlagsFromString('--expose-gc');
export const collectLoadGeneratorGarbage = runInNewContext('gc') as () => void;

/** One server child or several (the processes of one deployment), as a list. */
export type Servers = ServerChild | readonly ServerChild[];
export const serverList = (servers: Servers): readonly ServerChild[] => ('child' in servers ? [servers] : servers);

/**
 * Measures the CPU that the server (and Redis) spend while `fn` runs, after it has
 * quiesced. With several server processes, their CPU is summed (a process that
 * exits during the window counts up to its exit).
 */
export async function measureCpu<T>(servers: Servers, redisCpu: RedisCpu, fn: () => Promise<T>): Promise<{ value: T } & CpuWindow> {
  const list = serverList(servers);
  collectLoadGeneratorGarbage();
  if (quietBeforeRounds) {
    await waitForQuietMachine(quietBeforeRounds, 15, (b) => process.stderr.write(`  (waiting for other processes to leave the CPUs: ${b.toFixed(0)}% busy)\n`), 700);
  }
  for (const server of list) await windowHooks?.before(server);
  const [c0, r0] = await Promise.all([Promise.all(list.map((server) => server.cpu())), redisCpu()]);
  const m0 = machineBusyUs();
  const u0 = process.cpuUsage();
  const t0 = now();
  const value = await fn();
  await Promise.all(list.map((server) => quiesce(server)));
  const [c1, r1] = await Promise.all([Promise.all(list.map((server) => server.cpu())), redisCpu()]);
  const m1 = machineBusyUs();
  const u1 = process.cpuUsage(u0);
  const elapsedUs = (now() - t0) * 1000;
  for (const server of list) if (server.running()) await windowHooks?.after(server);
  const serverUsEach = list.map((_, i) => cpuSpent(c0[i]!, c1[i]!));
  const serverUs = serverUsEach.reduce((a, b) => a + b, 0);
  const gc = gcSum(list.map((_, i) => gcSpent(c0[i]!, c1[i]!)));
  const serverMainUs = list.reduce((sum, _, i) => sum + ((c1[i]!.mainThread ?? NaN) - (c0[i]!.mainThread ?? NaN)), 0);
  const redisUs = (r1.cpuSeconds - r0.cpuSeconds) * 1e6;
  const foreign = m1 - m0 - serverUs - redisUs - (u1.user + u1.system);
  return {
    value,
    serverUs,
    serverUsEach,
    redisUs,
    gc,
    serverMainUs,
    redisCommands: r1.commands - r0.commands,
    foreignPct: Math.max(0, (foreign / (elapsedUs * availableParallelism())) * 100),
    clientPct: ((u1.user + u1.system) / elapsedUs) * 100,
  };
}

/**
 * Waits until the server's event loop is (nearly) idle: trailing work of the
 * last round (presence writes, disconnect handling) must not be billed to the next.
 */
export async function quiesce(server: ServerChild, maxMs = 8_000, threshold = 0.08) {
  if (!server.running()) return;
  const deadline = Date.now() + maxMs;
  let a = await server.cpu();
  while (Date.now() < deadline && server.running()) {
    await sleep(120);
    const b = await server.cpu();
    const active = b.elu.active - a.elu.active;
    const total = active + (b.elu.idle - a.elu.idle);
    if (total > 0 && active / total < threshold) return;
    a = b;
  }
}

/**
 * How many client connections the server still holds. Uses the app's own count
 * when the server registered one, else open TCP handles above `baseHandles`.
 */
export async function openConnections(server: ServerChild, baseHandles = 0): Promise<number> {
  const s = await server.stats();
  if (typeof s.app.engineClients === 'number') return s.app.engineClients;
  return Math.max(0, (s.resources.TCPSocketWrap ?? 0) - baseHandles);
}

/** Closes sockets and waits for the server to let go of them (bounded). */
export async function closeAndSettle(server: ServerChild, sockets: Socket[], target: number, baseHandles = 0) {
  closeAll(sockets);
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && (await openConnections(server, baseHandles)) > target) await sleep(50);
  await quiesce(server);
}

// ---- handshakes ---------------------------------------------------------------

export interface HandshakeResult extends CpuWindow {
  perSecond: number;
  connected: number;
  errors: number;
  firstError?: string;
}

/** Times `n` socket connects (concurrency `c`), nothing else: cookies were obtained beforehand. */
export async function handshakeRound(server: ServerChild, redisCpu: RedisCpu, n: number, c: number, cookies: readonly string[]): Promise<HandshakeResult> {
  const before = await server.stats();
  const baseHandles = before.resources.TCPSocketWrap ?? 0;
  const baseClients = typeof before.app.engineClients === 'number' ? before.app.engineClients : 0;
  await quiesce(server);
  const { value: opened, ...m } = await measureCpu(server, redisCpu, () => openSockets(server.url, n, c, cookies));
  const { sockets, errors, firstError } = opened;
  await closeAndSettle(server, sockets, baseClients, typeof before.app.engineClients === 'number' ? 0 : baseHandles);
  return { perSecond: (sockets.length / opened.elapsedMs) * 1000, connected: sockets.length, errors, ...(firstError && { firstError }), ...m };
}

export interface OpenedSockets {
  sockets: Socket[];
  errors: number;
  firstError?: string;
  /** From the first connect to the last one settled. */
  elapsedMs: number;
  /** Each successful connect, from its start to its `connect` event. */
  connectMs: Samples;
}

/** Opens `n` sockets, `c` at a time (socket i with cookies[i % length], none when empty); a failed connect is counted, not thrown. */
export async function openSockets(url: string, n: number, c: number, cookies: readonly string[]): Promise<OpenedSockets> {
  const out: OpenedSockets = { sockets: [], errors: 0, elapsedMs: 0, connectMs: new Samples(n) };
  let next = 0;
  const t0 = now();
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const start = now();
      try {
        out.sockets.push(await connect(url, cookies.length ? cookies[i % cookies.length] : undefined));
        out.connectMs.push(now() - start);
      } catch (err) {
        out.errors++;
        out.firstError ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(c, n) }, worker));
  out.elapsedMs = now() - t0;
  return out;
}

// ---- fan-out --------------------------------------------------------------------

export interface FanoutResult extends CpuWindow {
  /** Deliveries per second (first send → last delivery). */
  perSecond: number;
  /** Sends acked ok, and per second (first send → last ack). */
  acked: number;
  ackedPerSecond: number;
  expected: number;
  delivered: number;
  /** Expected deliveries that never arrived (summed per socket). */
  missing: number;
  /** Deliveries beyond the expected ones: duplicates, or messages of another room. */
  extra: number;
  p50: number;
  p99: number;
  ackErrors: number;
  firstAckError?: string;
}

/** A room and the sockets in it (on whichever server processes). */
export interface FanoutGroup {
  roomId: string;
  sockets: readonly Socket[];
}

/**
 * `rooms` rooms of `members` sockets each, every socket joined to its room: room k's
 * sockets on urls[k % urls.length]. With `users` (rooms × members, the project's),
 * member j of room k is users[k * members + j] (its cookie), and the room is created
 * first by its first member; without, plain sockets (the bare server).
 */
export async function setUpRooms(o: { urls: readonly string[]; rooms: number; members: number; roomId: (k: number) => string; users?: readonly HttpUser[] }): Promise<FanoutGroup[]> {
  const { rooms, members, users } = o;
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);
  return Promise.all(
    range(rooms).map(async (k) => {
      const roomId = o.roomId(k);
      if (users) await users[k * members]!.expect('POST', '/api/rooms', 201, { id: roomId });
      const url = o.urls[k % o.urls.length]!;
      const sockets = await Promise.all(range(members).map((j) => connect(url, users?.[k * members + j]!.cookie)));
      for (const s of sockets) {
        const res = await ack<{ ok: boolean; error?: unknown }>(s, 'room:join', { roomId }, 20_000);
        if (!res.ok) throw new Error(`room:join ${roomId}: ${JSON.stringify(res.error)}`);
      }
      return { roomId, sockets };
    }),
  );
}

/**
 * In every group, every socket (all in the group's room) sends `messages` messages
 * one after another, each acked before the next; every socket in the room, the
 * sender's included (as PROTOCOL's "room members" and both servers do), receives
 * each one. Counts `message:new` deliveries per socket and their latency (send →
 * receipt; one clock, this process); `servers` are the processes whose CPU is summed.
 */
export async function fanoutRound(servers: Servers, redisCpu: RedisCpu, groups: readonly FanoutGroup[], messages: number, tag: string, timeoutMs = 60_000): Promise<FanoutResult> {
  const members = groups.flatMap((g) => g.sockets.map((socket) => ({ socket, roomId: g.roomId, expected: g.sockets.length * messages, got: 0, extra: 0, seen: new Set<string>() })));
  const expected = members.reduce((n, m) => n + m.expected, 0);
  const latencies = new Samples(expected);
  let delivered = 0;
  let lastAt = 0;
  let ackErrors = 0;
  let firstAckError: string | undefined;
  let acked = 0;
  let lastAckAt = 0;
  const marker = `${tag} `;
  let incomplete = members.length;
  let done!: () => void;
  const allDelivered = new Promise<void>((r) => (done = r));
  const listeners = members.map((member) => {
    const onMessage = (m: { id?: string; text?: string; roomId?: string }) => {
      const text = m?.text;
      if (typeof text !== 'string' || !text.startsWith(marker)) return;
      const id = String(m.id);
      if (m.roomId !== member.roomId || member.seen.has(id) || member.got >= member.expected) {
        member.extra++;
        return;
      }
      member.seen.add(id);
      const t = now();
      latencies.push(t - Number(text.slice(marker.length)));
      lastAt = t;
      delivered++;
      if (++member.got === member.expected && --incomplete === 0) done();
    };
    member.socket.on('message:new', onMessage);
    return () => member.socket.off('message:new', onMessage);
  });
  if (!incomplete) done();
  let t0 = 0;
  try {
    const { value: _, ...cpu } = await measureCpu(servers, redisCpu, async () => {
      t0 = now();
      const sender = ({ socket: s, roomId }: (typeof members)[number]) =>
        new Promise<void>((resolve) => {
          let k = 0;
          const sendNext = () => {
            if (k++ >= messages) return resolve();
            s.timeout(timeoutMs).emit('message:send', { roomId, text: `${marker}${now()}` }, (err: Error | null, res?: { ok?: boolean; error?: { code?: string } }) => {
              if (err || !res?.ok) {
                ackErrors++;
                firstAckError ??= err ? err.message : (res?.error?.code ?? 'no ack');
              } else {
                acked++;
                lastAckAt = now();
              }
              sendNext();
            });
          };
          sendNext();
        });
      await Promise.all(members.map(sender));
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([allDelivered, new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
      clearTimeout(timer);
    });
    const sorted = latencies.sorted();
    const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
    return {
      perSecond: (delivered / (lastAt - t0)) * 1000,
      acked,
      ackedPerSecond: (acked / (lastAckAt - t0)) * 1000,
      expected,
      delivered,
      missing: expected - delivered,
      extra: members.reduce((n, x) => n + x.extra, 0),
      p50: pct(50),
      p99: pct(99),
      ackErrors,
      ...(firstAckError && { firstAckError }),
      ...cpu,
    };
  } finally {
    for (const off of listeners) off();
  }
}

/**
 * Paces rounds of sends so that no user goes past the project's send limit
 * (SEND_LIMIT per window): `take()` waits, when needed, before a round in which
 * every user sends `perRound` messages.
 */
export class SendBudget {
  private readonly starts: number[] = [];
  constructor(private readonly perRound: number) {}

  async take() {
    for (;;) {
      const t = Date.now();
      const recent = this.starts.filter((x) => t - x < SEND_WINDOW_MS);
      if ((recent.length + 1) * this.perRound <= SEND_LIMIT) break;
      const wait = SEND_WINDOW_MS - (t - Math.min(...recent)) + 50;
      progress(`waiting ${fmt(wait / 1000, 1)} s for the project's per-user send limit`);
      await sleep(wait);
    }
    this.starts.push(Date.now());
  }
}

// ---- closed-loop acked events -------------------------------------------------

export interface ClosedLoopResult extends CpuWindow {
  perSecond: number;
  acked: number;
  failed: number;
  firstFailure?: string;
}

/**
 * Each socket emits `event` with `payloadOf(i, k)` and waits for the ack before
 * the next, for `seconds`. Counts acks that arrive within the window. The CPU is
 * `servers`' (the processes of one deployment: summed, and each in serverUsEach).
 */
export async function closedLoopRound(
  servers: Servers,
  redisCpu: RedisCpu,
  sockets: Socket[],
  event: string,
  payloadOf: (i: number, k: number) => unknown,
  seconds: number,
): Promise<ClosedLoopResult> {
  let acked = 0;
  let failed = 0;
  let firstFailure: string | undefined;
  const { value: _, ...cpu } = await measureCpu(servers, redisCpu, async () => {
    const t0 = now();
    const end = t0 + seconds * 1000;
    // Plain acks (no per-emit client timer, to keep the load generator light);
    // a socket whose ack never comes is abandoned by the overall bound below.
    const loops = Promise.all(
      sockets.map(
        (s, i) =>
          new Promise<void>((resolve) => {
            let k = 0;
            const next = () => {
              if (now() >= end) return resolve();
              s.emit(event, payloadOf(i, k++), (res?: { ok?: boolean; error?: { code?: string } }) => {
                if (now() <= end) {
                  if (res?.ok) acked++;
                  else {
                    failed++;
                    firstFailure ??= res?.error?.code ?? 'not ok';
                  }
                }
                next();
              });
            };
            next();
          }),
      ),
    );
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((r) => (timer = setTimeout(r, seconds * 1000 + 10_000)));
    await Promise.race([loops, bound]);
    clearTimeout(timer);
  });
  return { perSecond: acked / seconds, acked, failed, ...(firstFailure && { firstFailure }), ...cpu };
}

// ---- heap per idle socket -------------------------------------------------------

export interface IdleHeapResult {
  /** (heap after GC with the sockets − heap after GC without) / sockets connected. */
  perSocket: number;
  rssPerSocket: number;
  heapBefore: number;
  heapAfter: number;
  rssAfter: number;
  connected: number;
  /** Connects that failed (the rest of the sockets are still opened and measured). */
  failed: number;
  firstError?: string;
  /** Time to open all the sockets, and each connect's time (ms). */
  openSeconds: number;
  connectP50: number;
  connectP99: number;
  /** With `redisCpu`: the CPU the opening cost (else undefined). */
  cpu?: CpuWindow;
}

/**
 * Heap after GC with `n` idle sockets minus heap after GC without them, per socket;
 * also how long opening them took. With `redisCpu`, the opening is a measured
 * window (server and Redis CPU, --wait-quiet, --cpu-prof hooks).
 */
export async function idleHeapRound(
  server: ServerChild,
  n: number,
  cookies: readonly string[],
  o: { concurrency?: number; snapshotPrefix?: string; redisCpu?: RedisCpu } = {},
): Promise<IdleHeapResult> {
  const { concurrency = 100, snapshotPrefix, redisCpu } = o;
  const before = await server.stats();
  const baseHandles = before.resources.TCPSocketWrap ?? 0;
  const baseClients = typeof before.app.engineClients === 'number' ? before.app.engineClients : 0;
  await quiesce(server);
  const h0 = await server.heap();
  if (snapshotPrefix) await server.heapSnapshot(`${snapshotPrefix}-0.heapsnapshot`);
  let sockets: Socket[] = [];
  try {
    const open = () => openSockets(server.url, n, concurrency, cookies);
    let opened: OpenedSockets;
    let cpu: CpuWindow | undefined;
    if (redisCpu) ({ value: opened, ...cpu } = await measureCpu(server, redisCpu, open));
    else opened = await open();
    sockets = opened.sockets;
    await sleep(300);
    await quiesce(server);
    const h1 = await server.heap();
    if (snapshotPrefix) await server.heapSnapshot(`${snapshotPrefix}-${n}.heapsnapshot`);
    const connected = Math.max(1, sockets.length);
    return {
      perSocket: (h1.heapUsed - h0.heapUsed) / connected,
      rssPerSocket: (h1.rss - h0.rss) / connected,
      heapBefore: h0.heapUsed,
      heapAfter: h1.heapUsed,
      rssAfter: h1.rss,
      connected: sockets.length,
      failed: opened.errors,
      ...(opened.firstError && { firstError: opened.firstError }),
      openSeconds: opened.elapsedMs / 1000,
      connectP50: opened.connectMs.pct(50),
      connectP99: opened.connectMs.pct(99),
      ...(cpu && { cpu }),
    };
  } finally {
    await closeAndSettle(server, sockets, baseClients, typeof before.app.engineClients === 'number' ? 0 : baseHandles);
  }
}

// ---- reconnect storm ---------------------------------------------------------------

interface PresenceEvent {
  user?: { username?: string };
  online?: boolean;
}

/**
 * Sockets that reconnect on their own (socket.io-client's automatic reconnection,
 * as a page's socket does), with what a reconnect storm needs counted: which came
 * back in the current round and when, `presence` events received, reconnect
 * attempts, refusals. A CONNECT the server refuses, or a disconnect the server
 * makes at the Socket.IO level (socket.io-client retries neither), is retried
 * after `retryMs`, as the shipped page does. Watchers also keep
 * the presence view a page keeps: `presence:list` at every connect, then events.
 */
export class StormFleet {
  readonly sockets: Socket[] = [];
  readonly watchers: Array<{ socket: Socket; view: Map<string, boolean> }> = [];
  private round = 0;
  private closed = false;
  /** Sockets connected again in this round, and when the last one was (now()). */
  back = 0;
  lastBackAt = 0;
  /** When the last socket saw its disconnect in this round. */
  lastDownAt = 0;
  /** `presence` events received by all sockets in this round, and when the last one was. */
  presence = 0;
  lastPresenceAt = 0;
  /** socket.io-client reconnection attempts in this round (refused TCP connects included). */
  attempts = 0;
  /** CONNECTs refused by the server in this round, by message. */
  readonly refusals = new Map<string, number>();

  constructor(
    private readonly url: string,
    private readonly reconnection: Reconnection,
    private readonly retryMs: number,
  ) {}

  get total() {
    return this.sockets.length + this.watchers.length;
  }

  /** Connects `n` sockets (socket i with cookies[i % length], none when empty), then one watcher per watcher cookie. */
  async connect(n: number, cookies: readonly string[], watcherCookies: readonly string[] = [], concurrency = 50) {
    await pool(n, concurrency, async (i) => {
      const s = await connect(this.url, cookies.length ? cookies[i % cookies.length] : undefined, 20_000, this.reconnection);
      this.sockets.push(this.track(s));
    });
    for (const cookie of watcherCookies) {
      const socket = await connect(this.url, cookie, 20_000, this.reconnection);
      const watcher = { socket, view: new Map<string, boolean>() };
      const load = () =>
        this.presenceList(socket).then(
          (online) => {
            watcher.view.clear();
            for (const u of online) watcher.view.set(u, true);
          },
          () => undefined,
        );
      socket.on('connect', () => void load());
      socket.on('presence', (p: PresenceEvent) => p?.user?.username && watcher.view.set(p.user.username, p.online === true));
      await load();
      this.watchers.push(watcher);
      this.track(socket);
    }
  }

  private track(s: Socket): Socket {
    let seen = this.round;
    s.on('connect', () => {
      if (seen === this.round) return;
      seen = this.round;
      this.back++;
      this.lastBackAt = now();
    });
    const retry = () => setTimeout(() => !this.closed && !s.connected && !s.active && s.connect(), this.retryMs);
    s.on('disconnect', (reason: string) => {
      this.lastDownAt = now();
      if (reason === 'io server disconnect') retry();
    });
    s.on('presence', () => {
      this.presence++;
      this.lastPresenceAt = now();
    });
    s.io.on('reconnect_attempt', () => this.attempts++);
    s.on('connect_error', (err: Error) => {
      if (s.active) return; // a transport error: socket.io-client retries by itself
      this.refusals.set(err.message, (this.refusals.get(err.message) ?? 0) + 1);
      retry();
    });
    return s;
  }

  /** Starts a round: every socket must connect again to count as back. */
  beginRound() {
    this.round++;
    this.back = 0;
    this.lastBackAt = 0;
    this.lastDownAt = 0;
    this.presence = 0;
    this.lastPresenceAt = 0;
    this.attempts = 0;
    this.refusals.clear();
  }

  /** Usernames that `presence:list` answers (asked on a watcher). */
  async presenceList(socket = this.watchers[0]?.socket): Promise<string[]> {
    if (!socket) throw new Error('no watcher');
    const res = await ack<{ ok: boolean; online?: Array<{ username: string }> }>(socket, 'presence:list', {}, 10_000);
    if (!res.ok) throw new Error('presence:list refused');
    return (res.online ?? []).map((u) => u.username);
  }

  close() {
    this.closed = true;
    closeAll(this.sockets);
    closeAll(this.watchers.map((w) => w.socket));
  }
}

export interface StormResult extends CpuWindow {
  /** Seconds after the SIGTERM: the old process gone, the new one listening, every socket connected again, presence settled (NaN: not within the bound, or no presence). */
  exited: number;
  listening: number;
  /** Seconds after the SIGTERM when the last socket saw its disconnect. */
  lastDown: number;
  allBack: number;
  settled: number;
  /** Sockets not back within the bound. */
  notBack: number;
  /** `presence` events all sockets received from the SIGTERM until presence settled, and during the tail after it. */
  presenceEvents: number;
  latePresence: number;
  attempts: number;
  refused: number;
  firstRefusal?: string;
  /** Users the watchers' views (kept as the page keeps them) got wrong after the tail, summed over watchers. */
  viewWrong: number;
  /** Why presence never settled: how presence:list differed at the end. */
  listWrong?: string;
  oldExitCode: number | null;
}

/**
 * A deploy under load: SIGTERM `old` (it closes every transport, so the fleet's
 * sockets reconnect by themselves) and, the moment it has exited, let `next` (booted
 * beforehand on the same port, its listen held) listen. Measures when every socket
 * is back; with `expectedOnline` (usernames) also when presence has settled: no
 * `presence` event for `quietMs` after the last socket is back, and `presence:list`
 * equal to the expected set. Then `tailMs` more to count late `presence` events.
 * Server CPU is the old process's (until it exited) plus the new one's.
 */
export async function stormRound(o: {
  old: ServerChild;
  next: ServerChild;
  fleet: StormFleet;
  redisCpu: RedisCpu;
  expectedOnline?: readonly string[];
  quietMs: number;
  tailMs: number;
  timeoutMs: number;
}): Promise<StormResult> {
  const { old, next, fleet } = o;
  await Promise.all([quiesce(old), quiesce(next)]);
  fleet.beginRound();
  const expected = o.expectedOnline && [...o.expectedOnline].sort();
  const r = { exited: NaN, listening: NaN, lastDown: NaN, allBack: NaN, settled: NaN, oldExitCode: null as number | null, listWrong: undefined as string | undefined };
  /** `presence` events counted up to the settling (or to the end of the bound). */
  let presenceEvents = NaN;
  const { value: _, ...cpu } = await measureCpu([old, next], o.redisCpu, async () => {
    const t0 = now();
    const deadline = t0 + o.timeoutMs;
    r.oldExitCode = await old.stop(15_000);
    r.exited = (now() - t0) / 1000;
    await next.listen();
    r.listening = (now() - t0) / 1000;
    await waitUntil(() => fleet.back >= fleet.total, deadline - now(), 20);
    r.lastDown = (fleet.lastDownAt - t0) / 1000;
    if (fleet.back < fleet.total) return;
    r.allBack = (fleet.lastBackAt - t0) / 1000;
    if (!expected) return;
    for (;;) {
      const from = Math.max(fleet.lastBackAt, fleet.lastPresenceAt);
      const quietFor = now() - from;
      if (quietFor < o.quietMs) {
        await sleep(o.quietMs - quietFor);
        continue;
      }
      const online = await fleet.presenceList().then((l) => l.sort(), (err: unknown) => [`(${String(err)})`]);
      const same = online.length === expected.length && online.every((u, i) => u === expected[i]);
      if (same && Math.max(fleet.lastBackAt, fleet.lastPresenceAt) === from) {
        r.settled = (from - t0) / 1000;
        presenceEvents = fleet.presence;
        return;
      }
      if (now() > deadline) {
        const missing = expected.filter((u) => !online.includes(u));
        r.listWrong = `presence:list has ${online.length} users, ${missing.length} of the ${expected.length} expected missing`;
        return;
      }
      await sleep(200);
    }
  });
  if (Number.isNaN(presenceEvents)) presenceEvents = fleet.presence;
  if (expected) await sleep(o.tailMs);
  let viewWrong = 0;
  if (expected) {
    for (const { view } of fleet.watchers) {
      viewWrong += expected.filter((u) => view.get(u) !== true).length;
      viewWrong += [...view].filter(([u, online]) => online && !expected.includes(u)).length;
    }
  }
  const refusals = [...fleet.refusals];
  return {
    ...r,
    presenceEvents,
    notBack: fleet.total - fleet.back,
    latePresence: fleet.presence - presenceEvents,
    attempts: fleet.attempts,
    refused: refusals.reduce((n, [, k]) => n + k, 0),
    ...(refusals.length && { firstRefusal: refusals[0]![0] }),
    viewWrong,
    ...cpu,
  };
}

// ---- session liveness (project only) ------------------------------------------

/** Opens a socket with the cookie and resolves once it is connected and has had its first `session` event. */
export function connectWithSession(url: string, cookie: string, ms = 10_000): Promise<Socket> {
  const s = makeSocket(url, cookie);
  return new Promise((resolve, reject) => {
    let connected = false;
    let session = false;
    const timer = setTimeout(() => {
      s.close();
      reject(new Error('no connect + session within time'));
    }, ms);
    const check = () => {
      if (connected && session) {
        clearTimeout(timer);
        resolve(s);
      }
    };
    s.once('connect', () => ((connected = true), check()));
    s.once('session', () => ((session = true), check()));
    s.once('connect_error', (err: Error) => {
      clearTimeout(timer);
      s.close();
      reject(new Error(`connect_error: ${err.message}`));
    });
  });
}

interface ViewEvent {
  user?: { displayName?: string };
  prefs?: { theme?: string };
}

/** Resolves with the time (now()) of the first `session` event that passes `match`. */
function sessionEventAt(s: Socket, match: (v: ViewEvent) => boolean, ms: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const on = (v: ViewEvent) => {
      if (!match(v)) return;
      const t = now();
      clearTimeout(timer);
      s.off('session', on);
      resolve(t);
    };
    const timer = setTimeout(() => {
      s.off('session', on);
      reject(new Error(`no matching "session" event within ${ms} ms`));
    }, ms);
    s.on('session', on);
  });
}

export interface StalenessSamples {
  /** From the HTTP response to the `session` event (0 when the event came first). */
  afterResponse: Samples;
  /** From sending the HTTP request to the `session` event. */
  fromRequest: Samples;
  misses: number;
}

/**
 * `iterations` changes made over HTTP (PATCH /api/prefs theme, or PATCH /api/me
 * displayName), each awaited on an open socket of the same session (prefs) or
 * user (displayName).
 */
export async function stalenessRound(user: HttpUser, socket: Socket, kind: 'prefs' | 'me', iterations: number, tag: string): Promise<StalenessSamples> {
  const out: StalenessSamples = { afterResponse: new Samples(iterations), fromRequest: new Samples(iterations), misses: 0 };
  for (let i = 0; i < iterations; i++) {
    let event: Promise<number>;
    let send: () => Promise<unknown>;
    if (kind === 'prefs') {
      const theme = i % 2 ? 'dark' : 'light';
      event = sessionEventAt(socket, (v) => v.prefs?.theme === theme, 5_000);
      send = () => user.expect('PATCH', '/api/prefs', 200, { theme });
    } else {
      const displayName = `${tag} ${i}`;
      event = sessionEventAt(socket, (v) => v.user?.displayName === displayName, 5_000);
      send = () => user.expect('PATCH', '/api/me', 200, { displayName });
    }
    event.catch(() => undefined);
    const t0 = now();
    await send();
    const t1 = now();
    try {
      const t2 = await event;
      out.fromRequest.push(t2 - t0);
      out.afterResponse.push(Math.max(0, t2 - t1));
    } catch {
      out.misses++;
    }
  }
  return out;
}

export interface LogoutSamples {
  /** POST /api/logout sent → `disconnect` on the socket. */
  toDisconnect: Samples;
  /** POST /api/logout sent → `session:ended`. */
  toEnded: Samples;
  misses: number;
}

/** Logs a fresh session in, opens a socket on it, logs out over HTTP and times the socket's end. */
export async function logoutRound(url: string, username: string, iterations: number): Promise<LogoutSamples> {
  const out: LogoutSamples = { toDisconnect: new Samples(iterations), toEnded: new Samples(iterations), misses: 0 };
  for (let i = 0; i < iterations; i++) {
    const user = new HttpUser(url);
    await user.login(username);
    const s = await connectWithSession(url, user.cookie);
    try {
      let endedAt = NaN;
      s.once('session:ended', () => (endedAt = now()));
      const gone = new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('not disconnected')), 5_000);
        s.once('disconnect', () => {
          clearTimeout(timer);
          resolve(now());
        });
      });
      gone.catch(() => undefined);
      const t0 = now();
      await user.logout();
      try {
        const t2 = await gone;
        out.toDisconnect.push(t2 - t0);
        if (Number.isFinite(endedAt)) out.toEnded.push(endedAt - t0);
      } catch {
        out.misses++;
      }
    } finally {
      s.close();
    }
  }
  return out;
}

export { noRedis };
