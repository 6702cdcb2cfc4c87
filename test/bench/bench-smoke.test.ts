import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { createClient } from 'redis';
import { REDIS_URL } from '../unit/helpers/redis.js';
import { needs } from '../support/services.js';

const run = promisify(execFile);

/** Runs a bench script with tsx, as `npm run bench` / `npm run soak` do; rejects on a non-zero exit. */
const tsx = (script: string, args: string[]) =>
  run(process.execPath, ['--import', 'tsx', script, ...args], { env: { ...process.env, REDIS_URL }, maxBuffer: 16 * 1024 * 1024 });

async function keysUnder(prefix: string) {
  const client = createClient({ url: REDIS_URL });
  await client.connect();
  try {
    let n = 0;
    for await (const batch of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 })) n += batch.length;
    return n;
  } finally {
    await client.close();
  }
}

/**
 * valgrind's control pipes in the system's temporary directory (its default place,
 * `/tmp/vgdb-pipe-…`): the callgrind benchmarks keep theirs in their own scratch
 * directories, so a run must add none here, whichever way its processes end.
 */
const vgdbPipesInTmp = () => new Set(readdirSync(tmpdir()).filter((name) => name.startsWith('vgdb-pipe')));
const added = (before: Set<string>) => [...vgdbPipesInTmp()].filter((name) => !before.has(name));

/**
 * The benchmarks at toy sizes, so that they cannot rot: every phase runs against both
 * servers and reports a number for every row. No figure is judged here (a loaded
 * machine could break any timing): speed is what `npm run bench` itself reports.
 */
describe('benchmarks (toy sizes)', function () {
  needs('redis');
  this.timeout(180_000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'bench-smoke-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('npm run bench: every phase reports every row for both servers, and leaves no Redis keys', async () => {
    const json = join(dir, 'bench.json');
    const { stdout, stderr } = await tsx('bench/run.ts', [
      '--rounds=1', '--no-warmup', '--sockets=6', '--messages=2', '--handshakes=20', '--hs-concurrency=5',
      '--inbound-seconds=0.3', '--idle=30', '--idle-users=3', '--liveness=3',
      '--session-read-rounds=1', '--session-read-seconds=0.3',
      '--small-rooms=2', '--small-members=2', '--small-messages=2', '--idle-max=50',
      '--scale-rooms=2', '--scale-members=2', '--scale-messages=3', '--storm-sockets=20', '--storm-users=4',
      `--json=${json}`,
    ]);
    type Row = { name: string; bareMedian: number | null; projectMedian: number | null; verdict: string };
    const report = JSON.parse(readFileSync(json, 'utf8')) as { metrics: Row[]; scale: { metrics: Row[] }; storm: { metrics: Row[] } };
    const byName = new Map(report.metrics.map((m) => [m.name, m]));
    const bothSides = [
      'handshakes/s', 'fan-out deliveries/s', 'delivery latency p50', 'delivery latency p99',
      'acked inbound events/s', 'acked inbound events/s, listener on another process', 'heap per idle socket @30',
      'CPU per inbound event, listener elsewhere: every process and Redis',
      // the cross-process path against bare Socket.IO on its own Redis adapter: two processes on either side
      'acked inbound events/s, listener on another process, vs bare with its Redis adapter',
      'listener process CPU per inbound event, vs bare with its Redis adapter',
      'CPU per inbound event, listener elsewhere: every process and Redis, vs bare with its Redis adapter',
      'small rooms: messages/s', 'small rooms: delivery latency p50', 'small rooms: delivery latency p99',
      'small rooms: server CPU per message', 'small rooms: Redis CPU per message', 'small rooms: Redis commands per message',
      'Redis commands per handshake',
      // the handshake's CPU split by thread (Linux's /proc), and the collector's pauses in the window
      'server CPU per handshake, event-loop thread', 'server CPU per handshake, helper threads',
      'server GC pauses per handshake, young generation',
      'idle @50: heap per idle socket', 'idle @50: heap after GC, total', 'idle @50: RSS', 'idle @50: time to open all sockets',
      'idle @50: connect time p50', 'idle @50: connect time p99', 'idle @50: server CPU per connect', 'idle @50: sockets connected',
    ];
    const projectOnly = ['listener process CPU per inbound event', 'staleness p99: PATCH /api/prefs → session', 'staleness p99: PATCH /api/me → session', 'logout→disconnect p99'];
    for (const name of [...bothSides, ...projectOnly]) {
      const m = byName.get(name);
      expect(m, name).to.not.equal(undefined);
      expect(Number.isFinite(m!.projectMedian), `${name}: project`).to.equal(true);
      if (bothSides.includes(name)) expect(Number.isFinite(m!.bareMedian), `${name}: bare`).to.equal(true);
    }
    // small rooms: every delivery arrived, none twice or from another room, on both servers; idle: every socket connected.
    for (const name of ['small rooms: deliveries missing', 'small rooms: deliveries unexpected (duplicate, other room)', 'idle @50: sockets connected']) {
      expect(byName.get(name)?.verdict, name).to.equal('PASS');
    }
    expect(stdout).to.match(/\| small rooms: messages\/s \(per s\) .*×/);
    expect(stdout).to.match(/Note: handshake rounds: full collections in each timed window, .*: bare \d+ \(.* ms\)/);
    // scale: both sizes (1 process in the baseline column, 3 in the other), every delivery arrived.
    const scale = new Map(report.scale.metrics.map((m) => [m.name, m]));
    for (const name of ['deliveries/s', 'delivery latency p50', 'server CPU per delivery, all processes', 'Redis CPU per delivery', 'deliveries missing']) {
      const m = scale.get(name);
      expect(m, `scale: ${name}`).to.not.equal(undefined);
      expect(Number.isFinite(m!.bareMedian) && Number.isFinite(m!.projectMedian), `scale: ${name} at both sizes`).to.equal(true);
    }
    expect(scale.get('deliveries missing')!.verdict).to.equal('PASS');
    expect(scale.get('deliveries unexpected (duplicate, other room)')!.verdict).to.equal('PASS');
    expect(stdout).to.match(/\| server CPU per delivery, all processes \(µs\) .*×/);
    // storm: every socket back on both servers; presence settled, counted and right for the project.
    const storm = new Map(report.storm.metrics.map((m) => [m.name, m]));
    const stormBoth = ['all sockets back after SIGTERM', 'old process exited after SIGTERM', 'server CPU over the storm, both processes', 'client reconnection attempts'];
    const stormProject = ['presence settled after SIGTERM', 'presence events received, all sockets', "users wrong in the watchers' presence view"];
    for (const name of [...stormBoth, ...stormProject]) {
      const m = storm.get(name);
      expect(m, `storm: ${name}`).to.not.equal(undefined);
      expect(Number.isFinite(m!.projectMedian), `storm: ${name}: project`).to.equal(true);
      if (stormBoth.includes(name)) expect(Number.isFinite(m!.bareMedian), `storm: ${name}: bare`).to.equal(true);
    }
    expect(storm.get('sockets not back within the bound')!.verdict).to.equal('PASS');
    expect(storm.get("users wrong in the watchers' presence view")!.verdict).to.equal('PASS');
    expect(stdout).to.include('## reconnect storm');
    // Real work only: no refused handshake, send or event (the limits' ceilings are raised by settings, see bench/lib/project.ts).
    expect(stderr).to.not.match(/acks not ok|handshakes: \d+ failed|sends failed|FAIL/);
    expect(stdout).to.include('MAX_SOCKETS_PER_USER=');
    expect(stdout).to.match(/\| acked inbound events\/s .*×/); // the table with ratios
    expect(stdout).to.include('live view vs reload per event'); // the session-read part
    const prefix = /\(prefix (bench:[^ )]+)\)/.exec(stderr)?.[1]; // on the progress lines
    expect(prefix, 'the run names its Redis prefix').to.be.a('string');
    expect(await keysUnder(prefix!)).to.equal(0);
  });

  it('npm run bench --alloc-prof: a heap profile of every allocation of each timed round, per server', async () => {
    const out = join(dir, 'alloc');
    await tsx('bench/run.ts', ['--only=handshake', '--rounds=1', '--no-warmup', '--handshakes=20', '--hs-concurrency=5', `--alloc-prof=${out}`]);
    expect(readdirSync(out).sort()).to.deep.equal(['bare-handshake-1.heapprofile', 'project-handshake-1.heapprofile']);
    type Node = { callFrame: { functionName: string; url: string }; selfSize: number; children: Node[] };
    const walk = (n: Node, seen: Array<{ url: string; size: number }>): typeof seen => {
      seen.push({ url: n.callFrame.url, size: n.selfSize });
      for (const c of n.children) walk(c, seen);
      return seen;
    };
    for (const server of ['bare', 'project']) {
      const profile = JSON.parse(readFileSync(join(out, `${server}-handshake-1.heapprofile`), 'utf8')) as { head: Node };
      const nodes = walk(profile.head, []);
      // Young garbage included: the handshakes' own allocations, in Socket.IO's code on either server.
      const sampled = nodes.filter((n) => n.url.includes('node_modules/socket.io/')).reduce((sum, n) => sum + n.size, 0);
      expect(sampled, `${server}: bytes sampled in socket.io`).to.be.greaterThan(0);
    }
    await tsx('bench/run.ts', ['--only=handshake', `--alloc-prof=${out}`, `--promoted-prof=${out}`]).then(
      () => expect.fail('both profilers at once must be refused'),
      (err: { stderr?: string }) => expect(err.stderr).to.include('one at a time'),
    );
  });

  it('npm run bench --aa: the handshake rounds of two bare servers against each other, and nothing else', async () => {
    const { stdout } = await tsx('bench/run.ts', ['--only=handshake', '--aa', '--rounds=2', '--no-warmup', '--handshakes=20', '--hs-concurrency=5']);
    expect(stdout).to.include('## A/A: bare Socket.IO against a second bare Socket.IO process');
    expect(stdout).to.match(/\| metric +\| bare A +\| bare B +\| ratio/);
    expect(stdout).to.match(/\| handshakes\/s \(per s\) +\| [\d,]+ +\| [\d,]+ +\| [\d.]+× +\| ≥ 0\.85× (PASS|FAIL)/);
    expect(stdout).to.match(/- server CPU per handshake: bare A [\d,.]+ \/ [\d,.]+; bare B [\d,.]+ \/ [\d,.]+; ratios/);
    expect(stdout).not.to.match(/; project [\d,]|project handshakes/); // no project column, no project load
    expect(stdout).to.include('"bare A" is the first, "bare B", where the project stands in a normal run, the second');
    await tsx('bench/run.ts', ['--only=handshake,fanout', '--aa']).then(
      () => expect.fail('--aa with another phase must be refused'),
      (err: { stderr?: string }) => expect(err.stderr).to.include('--aa: two bare servers measured against each other, for the handshake rounds only'),
    );
    await tsx('bench/run.ts', ['--only=handshake', '--aa-swap']).then(
      () => expect.fail('--aa-swap without --aa must be refused'),
      (err: { stderr?: string }) => expect(err.stderr).to.include('--aa-swap: goes with --aa'),
    );
    const swapped = await tsx('bench/run.ts', ['--only=handshake', '--aa', '--aa-swap', '--rounds=1', '--no-warmup', '--handshakes=20', '--hs-concurrency=5']);
    expect(swapped.stdout).to.include('"bare A" is the second, "bare B", where the project stands in a normal run, the first');
  });

  it('bench/relay.ts: both ways deliver every event and are reported', async () => {
    const { stdout, stderr } = await tsx('bench/relay.ts', ['--rounds=1', '--events=1000', '--rooms=10']);
    expect(stdout).to.match(/\| this process \(both sides\) +\| [\d.,]+ +\| [\d.,]+ +\| [\d.]+× +\|/);
    expect(stdout).to.match(/\| Redis +\|/);
    const prefix = /\(prefix (bench:[^ )]+)/.exec(stderr)?.[1];
    expect(prefix, 'the run names its Redis prefix').to.be.a('string');
    expect(await keysUnder(prefix!)).to.equal(0);
  });

  describe('npm run bench:store', () => {
    needs('valgrind', 'redis-server');
    it('counts the instructions of a post and a page, in Redis and in this process, and the memory a message', async () => {
      const json = join(dir, 'store.json');
      const pipesBefore = vgdbPipesInTmp();
      const { stdout } = await tsx('bench/store-cost.ts', ['--posts=100', '--pages=10', `--json=${json}`]);
      expect(stdout).to.match(/a post to a room \(postToRoom\)/).and.to.match(/a page of 50 messages \(page\)/);
      const report = JSON.parse(readFileSync(json, 'utf8')) as { redis: Record<string, number>; process: Record<string, number>; bytesPerMessage: number };
      for (const side of [report.redis, report.process]) {
        expect(side.post, 'a post').to.be.greaterThan(1000);
        // A page of 50 reads 50 messages: more than one post writes.
        expect(side.page, 'a page').to.be.greaterThan(side.post!);
      }
      expect(report.bytesPerMessage).to.be.within(50, 1000);
      // Its redis-server under callgrind is killed (SIGKILL), which leaves valgrind no time to remove its pipes.
      expect(added(pipesBefore), 'valgrind control pipes left in the temporary directory').to.deep.equal([]);
    });
  });

  it('npm run bench:events refuses a --sides that names neither server, before starting anything', async () => {
    const failed = await tsx('bench/event-cost.ts', ['--sides=nobody']).then(
      () => null,
      (err: { stderr?: string }) => err.stderr ?? '',
    );
    expect(failed, 'the run fails').to.be.a('string');
    expect(failed).to.include('--sides: nobody is neither bare nor project');
  });

  describe('npm run bench:events', () => {
    needs('valgrind');
    it('counts the instructions of a handshake and of an acked event on both servers, with a listener elsewhere too, and leaves no key behind', async function () {
      this.timeout(900_000); // the servers start under callgrind
      const json = join(dir, 'events.json');
      const pipesBefore = vgdbPipesInTmp();
      const { stdout, stderr } = await tsx('bench/event-cost.ts', ['--handshakes=10', '--events=40', '--sockets=2', '--remote', `--json=${json}`]);
      const figure = '[\\d.]+[kM]';
      const both = (name: string) => new RegExp(`\\| ${name} +\\| ${figure} +\\| ${figure} +\\| [\\d.]+× +\\|`);
      expect(stdout).to.match(both('an authenticated handshake'));
      expect(stdout).to.match(both('an acked inbound event \\(typing\\)'));
      expect(stdout).to.match(both('an authenticated handshake, event-loop thread'));
      expect(stdout).to.match(both('an authenticated handshake, event-loop thread outside the collector'));
      expect(stdout).to.match(both('an acked inbound event, listener elsewhere: the sending process'));
      expect(stdout).to.match(both('an acked inbound event, listener elsewhere: both'));
      // Bare has no second process: no figure, no ratio.
      expect(stdout).to.match(new RegExp(`\\| an acked inbound event, listener elsewhere: the listener's process +\\| — +\\| ${figure} +\\| — +\\|`));
      // JSON has no NaN: a side without a figure is null there.
      type Rows = Record<string, { bare: number | null; project: number }>;
      const report = JSON.parse(readFileSync(json, 'utf8')) as { instructions: Rows; eventLoopThread: Rows; eventLoopThreadOutsideCollector: Rows };
      const rows = Object.entries(report.instructions);
      expect(rows.map(([name]) => name)).to.deep.equal([
        'an authenticated handshake',
        'an acked inbound event (typing)',
        'an acked inbound event, listener elsewhere: the sending process',
        "an acked inbound event, listener elsewhere: the listener's process",
        'an acked inbound event, listener elsewhere: both',
      ]);
      for (const [name, row] of rows) {
        const loop = report.eventLoopThread[name];
        expect(loop, `${name}: the event-loop thread's row`).to.be.an('object');
        for (const side of ['bare', 'project'] as const) {
          if (side === 'bare' && name.endsWith("the listener's process")) {
            expect(row.bare, `${name}: bare has none`).to.equal(null);
            continue;
          }
          // More than a socket write's worth on either side: something was counted, on each.
          expect(loop![side], `${name}, ${side}: event-loop thread`).to.be.greaterThan(10_000);
          // The event loop is one of the threads: never more than all of them together.
          expect(row[side], `${name}, ${side}: every thread`).to.be.at.least(loop![side]!);
          // Outside the collector: part of the event loop's, and most of it.
          const outside = report.eventLoopThreadOutsideCollector[name]![side]!;
          expect(outside, `${name}, ${side}: outside the collector`).to.be.at.most(loop![side]!).and.greaterThan(loop![side]! / 2);
        }
      }
      // The project's two processes together count more than its sending process alone.
      const remote = (what: string) => report.eventLoopThread[`an acked inbound event, listener elsewhere: ${what}`]!.project;
      expect(remote('both')).to.be.greaterThan(remote('the sending process'));
      const prefix = /\(prefix (bench:[^ )]+)/.exec(stderr)?.[1];
      expect(prefix, 'the run names its Redis prefix').to.be.a('string');
      expect(await keysUnder(prefix!)).to.equal(0);
      expect(added(pipesBefore), 'valgrind control pipes left in the temporary directory').to.deep.equal([]);
    });
  });

  it('npm run soak: churning sockets leave nothing behind (heap, sockets, sessions, listeners, timers)', async () => {
    const { stdout } = await tsx('bench/soak.ts', [
      '--seconds=4', '--sockets=60', '--users=4', '--warmup=2', '--min-life=300', '--max-life=1200', '--ramp=0', '--revoke-every=1',
    ]);
    expect(stdout).to.include('soak PASS');
    expect(stdout).to.match(/sockets back to 0 +\| 0 +\| 0 +\| PASS/);
  });
});
