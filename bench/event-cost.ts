/**
 * `npm run bench:events`: what the server runs for an authenticated handshake and for an
 * acked inbound event, project vs bare Socket.IO, counted in instructions rather than
 * timed (valgrind's callgrind: the same code and inputs count nearly the same on a busy
 * machine as on a quiet one, where the timed rows of `npm run bench` move by a third
 * between runs). It answers "how much more does the project's server run" without the
 * machine's mood; not how fast either is (system calls run in the kernel, which
 * callgrind does not count: the two servers make about as many of them).
 *
 *   npm run bench:events [-- --handshakes=1000 --events=10000 --sockets=20 --sides=bare,project --remote --json=FILE]
 *
 * `--sides=project` counts the project alone (half the time; no ratios): for comparing two
 * versions of the project, each against the figures of the other's run.
 *
 * `--remote` adds the typing round of `npm run bench`'s listener-elsewhere row: every room
 * also has a listener, on bare Socket.IO a second socket of its own, for the project a
 * socket on a SECOND project process (under callgrind too), so that every event crosses
 * Redis. Counted: the sending process (bare: its one process, which delivers to the
 * listeners too) and the listener's process; every event must reach its listener. The
 * timed row is bound by the round trip the sending process is on (bench/HISTORY.md, twenty-third
 * pass), where a change of a few per cent is lost in rounds that move by a third; here
 * it is not. Redis's own instructions are not counted. One thing here is not as in a real
 * server: a process trusts what it knows of a room's processes for 1 s of the clock
 * (store/redis/room-adapter.ts), then relays one event on the room's channel to check it,
 * instead of to the listener's process's own channel with the turn's others; under
 * callgrind a room gets about 2 events a second, so that is about half of them (a busy
 * server: one in hundreds), and fewer events share a turn. The row overstates what the
 * relay costs a busy server; `npx tsx bench/relay.ts` and the timed rows measure that.
 *
 * Both servers run under callgrind from their start (minutes: node is some 50 times
 * slower under it), the project on Redis as `npm run bench` runs it. Each step as the
 * bench does it, a warm-up first so that the code counted is compiled as a
 * long-running server's is, then the counted round: `--handshakes` connects (10 at a
 * time, with the users' session cookies for the project; closed after the count), and
 * `--events` acked `typing` from `--sockets` sockets, each in a room of its own and
 * sending its share one after another. A full collection before each counted round.
 * Counters are zeroed before the round and dumped after it, per thread: each row is
 * given for every thread (V8's compiler and collector threads included), for the
 * event-loop thread alone, and for the event-loop thread outside V8's garbage collector.
 * Compare versions by the third: valgrind runs one thread at a time, so the optimizing
 * compiler's background jobs queued during the warm-up run partly in the counted round, a
 * share that depends on valgrind's scheduling more than on the server (2026-12-02, 1,000
 * handshakes: TurboFan's jobs were 0.93M of bare's 1.90M instructions a handshake and 1.45M
 * of the project's 2.54M; `perf` on the timed bench puts them at ~1–2% of either server's
 * CPU), and so does the share of the collector's parallel work that lands on the event-loop
 * thread (2026-12-03, two runs of one build, `--sides=project`, 1,000 handshakes: the
 * collector's instructions on every thread 105k a handshake in both, on the event-loop
 * thread 24k in one and 85k in the other; the event-loop row 906k and 986k, the row outside
 * the collector 888k and 907k).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { callgrindCommand, instructionCounter, requireCallgrind, type Instructions } from './lib/callgrind.js';
import { installCleanup, runMain, scratchDir, type ServerChild } from './lib/children.js';
import { runId } from './lib/http.js';
import { checkBuilt, PROJECT_ENTRY, registerUsers, startBare, startProject } from './lib/project.js';
import { openBenchRedis, REDIS_URL } from './lib/redis.js';
import { handshakeRound, measureCpu, noRedis, quiesce, setWindowHooks } from './lib/scenarios.js';
import { ack, closeAll, connectMany, type Socket } from './lib/sockets.js';
import { markdownTable, Options, parseArgs, progress, waitUntil } from './lib/util.js';

type Side = 'bare' | 'project';
const SIDES: readonly Side[] = ['bare', 'project'];
/** Handshakes in flight at once. */
const CONCURRENCY = 10;
/** Long enough for node under callgrind to start (tsx compiling the probe and the bare server included). */
const START_TIMEOUT_MS = 600_000;

/** Every socket sends `each` acked typing events to its own room, one after another; answers how many were acked ok (all, or it throws). */
async function typingLoop(sockets: Socket[], roomOf: (i: number) => string, each: number): Promise<number> {
  let acked = 0;
  await Promise.all(
    sockets.map(async (s, i) => {
      for (let k = 0; k < each; k++) {
        const res = await ack<{ ok: boolean; error?: { code?: string } }>(s, 'typing', { roomId: roomOf(i), typing: k % 2 === 0 }, 120_000);
        if (!res.ok) throw new Error(`typing not acked ok: ${res.error?.code ?? 'no code'}`);
        acked++;
      }
    }),
  );
  return acked;
}

const thousands = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : `${(n / 1e3).toFixed(1)}k`);

async function main() {
  const opts = new Options(parseArgs(process.argv.slice(2)));
  const handshakes = opts.int('handshakes', 1000, 10, 100_000);
  const events = opts.int('events', 10_000, 10, 10_000_000);
  const sockets = opts.int('sockets', 20, 1, 1000);
  const json = opts.str('json');
  const remote = opts.flag('remote', false);
  const sides = opts.list('sides', [...SIDES]);
  for (const side of sides) if (!SIDES.includes(side as Side)) throw new Error(`--sides: ${side} is neither bare nor project`);
  const measured: readonly Side[] = SIDES.filter((side) => sides.includes(side));
  if (measured.length === 0) throw new Error('--sides: name bare, project or both');
  opts.assertAllUsed();
  requireCallgrind();
  checkBuilt(PROJECT_ENTRY, 'npm run bench:events');
  const dir = scratchDir('bench-events-');
  const redis = await openBenchRedis('events');
  progress(`Redis ${REDIS_URL} (prefix ${redis.prefix}: this run's keys, deleted at the end)`);
  const run = runId();

  progress('starting bare Socket.IO and the project under callgrind (a few minutes)');
  const counted = async (side: Side) => {
    const out = join(dir, `${side}.callgrind`);
    const wrap = callgrindCommand(out);
    const server =
      side === 'bare'
        ? await startBare({ wrap, startTimeoutMs: START_TIMEOUT_MS })
        : await startProject({ prefix: redis.prefix, wrap, startTimeoutMs: START_TIMEOUT_MS });
    // spawnServer starts every server with HOST=127.0.0.1, which valgrind's control pipes are named after.
    return { server, counter: instructionCounter(server.child.pid, out, { HOST: '127.0.0.1' }) };
  };
  /** With --remote, the project's second process, where the listeners are (counted in the sending process's windows). */
  const startSecond = async () => {
    const out = join(dir, 'project-2.callgrind');
    const server = await startProject({ name: 'project-2', prefix: redis.prefix, wrap: callgrindCommand(out), startTimeoutMs: START_TIMEOUT_MS });
    return { server, counter: instructionCounter(server.child.pid, out, { HOST: '127.0.0.1' }) };
  };
  const [started, second] = await Promise.all([
    Promise.all(measured.map(async (side) => [side, await counted(side)] as const)),
    remote && measured.includes('project') ? startSecond() : undefined,
  ]);
  const servers = Object.fromEntries(started) as Partial<Record<Side, Awaited<ReturnType<typeof counted>>>>;
  const serverOf = (side: Side) => servers[side]!;

  // The rounds' windows (measureCpu's) are where the counters run: zeroed before, dumped after.
  let counting = false;
  let counts: Instructions | undefined;
  /** A second process counted in the same windows (--remote: the listeners' project process), and what it counted. */
  let also: Awaited<ReturnType<typeof startSecond>> | undefined;
  let alsoCounts: Instructions | undefined;
  const counterOf = (server: ServerChild) => measured.map(serverOf).find((s) => s.server === server)?.counter;
  setWindowHooks({
    before: async (server) => {
      if (!counting) return;
      // A full collection first, so that one the warm-up left due does not land in the count.
      await Promise.all([server.heap(), also?.server.heap()]);
      counterOf(server)?.zero();
      also?.counter.zero();
    },
    after: async (server) => {
      if (!counting) return;
      counts = await counterOf(server)?.dump();
      if (also) alsoCounts = await also.counter.dump();
    },
  });
  const countedRound = async <T>(side: Side, fn: () => Promise<T>, with2nd?: typeof also): Promise<{ value: T; instructions: Instructions; second?: Instructions }> => {
    counting = true;
    counts = undefined;
    also = with2nd;
    alsoCounts = undefined;
    try {
      const value = await fn();
      // Set by the window's hooks meanwhile (TypeScript narrows both to their `undefined` above).
      const [first, second] = [counts as Instructions | undefined, alsoCounts as Instructions | undefined];
      if (first === undefined || (with2nd && second === undefined)) throw new Error(`${side}: the round's window was not counted`);
      return { value, instructions: first, ...(second && { second }) };
    } finally {
      counting = false;
      also = undefined;
    }
  };

  const ownRoom = (i: number) => `ev-${run}-${i}`;
  let users: Awaited<ReturnType<typeof registerUsers>> = [];
  if (servers.project) {
    progress('registering users for the project (argon2 under callgrind: slow)');
    users = await registerUsers(servers.project.server.url, run, 'e', sockets, 2);
    await Promise.all(users.map((u, i) => u.expect('POST', '/api/rooms', 201, { id: ownRoom(i) })));
  }
  const cookiesOf = (side: Side) => (side === 'project' ? users.map((u) => u.cookie) : []);

  /** A row's figure per side: NaN where a side has none (bare has no listener's process). */
  const rows: Record<string, Record<Side, number>> = {};
  const loopRows: Record<string, Record<Side, number>> = {};
  const outsideRows: Record<string, Record<Side, number>> = {};
  /** A row, every thread's, the event loop's, and the event loop's outside the collector: `per` is what the count is divided by. */
  const row = (name: string, side: Side, counted: Instructions, per: number) => {
    (rows[name] ??= { bare: NaN, project: NaN })[side] = counted.total / per;
    (loopRows[name] ??= { bare: NaN, project: NaN })[side] = counted.main / per;
    (outsideRows[name] ??= { bare: NaN, project: NaN })[side] = (counted.main - counted.mainCollector) / per;
  };
  const joinOwnRooms = (side: Side, open: Socket[]) =>
    Promise.all(
      open.map(async (s, i) => {
        const res = await ack<{ ok: boolean; error?: unknown }>(s, 'room:join', { roomId: ownRoom(i) }, 120_000);
        if (!res.ok) throw new Error(`${side} room:join: ${JSON.stringify(res.error)}`);
      }),
    );
  /**
   * --remote: the typing round again with a listener in every room (bare: a socket of its
   * own; the project: a socket on the second process), counted until every event has
   * reached its listener, so that the listener's process is counted for all of them.
   */
  const remoteRound = async (side: Side, server: ServerChild, open: Socket[]) => {
    const where = side === 'project' ? second! : undefined;
    progress(`${side}: the same with a listener in every room (${where ? 'on a second project process' : 'a socket of its own on the same server'})`);
    const listeners = await connectMany((where?.server ?? server).url, sockets, cookiesOf(side), CONCURRENCY);
    let heard = 0;
    for (const l of listeners) l.on('typing', () => void (heard += 1));
    try {
      await joinOwnRooms(side, listeners);
      await Promise.all([quiesce(server), where && quiesce(where.server)]);
      const typing = () =>
        measureCpu(server, noRedis, async () => {
          const from = heard;
          const acked = await typingLoop(open, ownRoom, Math.ceil(events / sockets));
          if (!(await waitUntil(() => heard - from >= acked, 120_000, 5))) throw new Error(`${side}: ${heard - from} of ${acked} typing events reached their listeners`);
          return acked;
        });
      await typing();
      const ev = await countedRound(side, typing, where);
      const name = 'an acked inbound event, listener elsewhere';
      const names = [`${name}: the sending process`, `${name}: the listener's process`, `${name}: both`];
      // In this order in the table, whichever side comes first (bare has no listener's process).
      for (const n of names) {
        rows[n] ??= { bare: NaN, project: NaN };
        loopRows[n] ??= { bare: NaN, project: NaN };
        outsideRows[n] ??= { bare: NaN, project: NaN };
      }
      row(names[0]!, side, ev.instructions, ev.value.value);
      if (ev.second) {
        row(names[1]!, side, ev.second, ev.value.value);
        const sum = (k: keyof Instructions) => ev.instructions[k] + ev.second![k];
        row(names[2]!, side, { total: sum('total'), main: sum('main'), mainCollector: sum('mainCollector') }, ev.value.value);
      } else {
        row(names[2]!, side, ev.instructions, ev.value.value);
      }
    } finally {
      closeAll(listeners);
    }
  };

  for (const side of measured) {
    const { server } = serverOf(side);
    progress(`${side}: ${handshakes} handshakes to warm up, then ${handshakes} counted`);
    const warm = await handshakeRound(server, noRedis, handshakes, CONCURRENCY, cookiesOf(side));
    if (warm.errors) throw new Error(`${side} handshakes failed: ${warm.firstError}`);
    const hs = await countedRound(side, () => handshakeRound(server, noRedis, handshakes, CONCURRENCY, cookiesOf(side)));
    if (hs.value.errors) throw new Error(`${side} handshakes failed: ${hs.value.firstError}`);
    row('an authenticated handshake', side, hs.instructions, hs.value.connected);

    progress(`${side}: ${sockets} sockets typing in rooms of their own, ${events} events to warm up, then ${events} counted`);
    const open = await connectMany(server.url, sockets, cookiesOf(side), CONCURRENCY);
    try {
      await joinOwnRooms(side, open);
      await quiesce(server);
      // A number of events, not a time: what the server runs while idle (its timers, the probes) is then the same share of every run.
      const typing = () => measureCpu(server, noRedis, () => typingLoop(open, ownRoom, Math.ceil(events / sockets)));
      await typing();
      const ev = await countedRound(side, typing);
      row('an acked inbound event (typing)', side, ev.instructions, ev.value.value);
      if (remote) await remoteRound(side, server, open);
    } finally {
      closeAll(open);
    }
  }
  setWindowHooks(undefined);

  const figure = (side: Side, v: Record<Side, number>) => (Number.isFinite(v[side]) ? thousands(v[side]) : '—');
  const ratio = (v: Record<Side, number>) => (Number.isFinite(v.project / v.bare) ? `${(v.project / v.bare).toFixed(2)}×` : '—');
  const cells = (name: string, v: Record<Side, number>) => [name, figure('bare', v), figure('project', v), ratio(v)];
  const table = Object.entries(rows).flatMap(([name, v]) => [
    cells(name, v),
    cells(`${name}, event-loop thread`, loopRows[name]!),
    cells(`${name}, event-loop thread outside the collector`, outsideRows[name]!),
  ]);
  console.log(markdownTable(['server instructions for', 'bare Socket.IO', 'project', 'ratio'], table));
  console.log(
    `\n(${handshakes} handshakes and ${events} typing events from ${sockets} sockets counted on ${measured.length === SIDES.length ? 'each side' : measured.join(' and ')}, after as many to warm up; ` +
      "each row for every thread, V8's compiler and collector threads included, then for the event-loop thread alone, then for the event-loop thread " +
      "without what it ran in V8's garbage collector: the figure to compare versions by, since how much collector work a counted round gets, and on which " +
      'thread, depends on valgrind more than on the server)',
  );
  if (remote) {
    console.log(
      '(listener elsewhere: the project\'s listeners are on a second project process, bare\'s on the one server, which delivers to them itself: ' +
        '"both" is the two project processes against bare\'s one; Redis is not counted)',
    );
  }
  if (json) writeFileSync(json, `${JSON.stringify({ handshakes, events, sockets, sides: measured, remote, instructions: rows, eventLoopThread: loopRows, eventLoopThreadOutsideCollector: outsideRows }, null, 2)}\n`);
}

installCleanup();
runMain('bench:events', main);
