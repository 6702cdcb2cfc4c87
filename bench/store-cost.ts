/**
 * `npm run bench:store`: what the chat store's hot steps cost, counted in instructions
 * rather than timed, so that two checkouts compare on a busy machine as on a quiet one
 * (valgrind's callgrind counts the instructions a process runs, not the seconds it took;
 * the same code and inputs count the same to within a fraction of a percent).
 *
 *   npm run bench:store [-- --posts=16000 --pages=1600 --turn=8 --json=FILE]
 *
 * Steps: a post to a room (message:send's store step, postToRoom: the posts of one turn
 * of the event loop in one script call), issued `--turn` at a time over 25 rooms (a
 * busy server's turn reads 7.5 posts in the small rooms of `npm run bench`: Redis's
 * total_reads_processed against its EVALSHA calls), and a page of 50 messages of history
 * (page: XRANGE, then the reactions), 10 at a time. For each, Redis's
 * instructions (a redis-server of its own under callgrind, counters zeroed before and
 * dumped after the steps) and this process's (the store's code in a node under callgrind,
 * counted the same way over a quarter as many steps, after as many again to warm up), and
 * the memory of a stored message (MEMORY USAGE of the stream / XLEN).
 * Needs valgrind and redis-server, and the build (`npm run build`): it measures
 * dist/, as `npm start` runs it. A/B: run it in each checkout.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createClient } from 'redis';
import type * as ChatModule from '../src/store/redis/chat.js';
import type * as KeysModule from '../src/store/keys.js';
import { installCleanup, onCleanup, repoRoot, runMain, scratchDir } from './lib/children.js';
import { callgrindCommand, instructionCounter, requireCallgrind, requireTool } from './lib/callgrind.js';
import { checkBuilt, PROJECT_ENTRY } from './lib/project.js';
import { markdownTable, Options, parseArgs, progress } from './lib/util.js';

type Step = 'post' | 'page';
const STEPS: readonly Step[] = ['post', 'page'];
const PAGE = 50;
/** The rooms posts go to: `general` and ones the store creates (openStore). */
const ROOMS = ['general', ...Array.from({ length: 24 }, (_, i) => `bench-${i + 1}`)];
const user = { id: 'u-bench-0001', username: 'alice', displayName: 'Alice Example' };
const draft = (i: number) => ({ roomId: 'general', user, text: `message ${i}: hello there, how is it going today?`, clientMsgId: `c-${i}` });

async function openStore(url: string) {
  const dist = (path: string) => pathToFileURL(join(repoRoot, 'dist', 'src', path)).href;
  const { createRedisChatStore } = (await import(dist('store/redis/chat.js'))) as typeof ChatModule;
  const { redisKeys } = (await import(dist('store/keys.js'))) as typeof KeysModule;
  const client = createClient({ url });
  await client.connect();
  const keys = redisKeys('bench-store:');
  const chat = createRedisChatStore(client as unknown as Parameters<typeof createRedisChatStore>[0], keys, { historyLimit: 100_000, processId: 'bench' });
  for (const id of ROOMS.slice(1)) await chat.createRoom({ id, name: id, private: false, owner: user.username });
  return { client, keys, chat };
}

type Store = Awaited<ReturnType<typeof openStore>>['chat'];

/**
 * `n` steps, concurrently in turns as a busy server issues them: posts `turn` at a time
 * (--turn: the posts a server's turn of its event loop reads, 7.5 in the small rooms of
 * `npm run bench`), round robin over ROOMS rooms; pages 10 at a time, of `general`.
 */
async function runSteps(chat: Store, step: Step, n: number, turn: number, from = 0): Promise<void> {
  const batch = step === 'post' ? turn : 10;
  for (let i = 0; i < n; i += batch) {
    const running: Array<Promise<unknown>> = [];
    for (let j = i; j < Math.min(n, i + batch); j++) {
      if (step === 'post') {
        const roomId = ROOMS[(from + j) % ROOMS.length]!;
        running.push(
          chat.postToRoom(roomId, { ...draft(from + j), roomId }).then((r) => {
            if (typeof r === 'string') throw new Error(`post refused: ${r}`);
          }),
        );
      } else {
        running.push(
          chat.page('room:general', { limit: PAGE }).then((p) => {
            if (p.length !== PAGE) throw new Error(`a page of ${p.length} messages, not ${PAGE}`);
          }),
        );
      }
    }
    await Promise.all(running);
  }
}

/**
 * `--worker --posts=N --pages=M --url=URL`: the steps this process's instructions are
 * counted over, run under callgrind. For each step it warms up (as many steps again, so
 * that the code is compiled as a long-running server's is), says `ready` and waits for a
 * line on stdin (the counters are zeroed meanwhile), runs the steps, says `done` and waits
 * again (they are dumped).
 */
async function worker(n: Record<Step, number>, turn: number, url: string) {
  const { client, chat } = await openStore(url);
  const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  for (const step of STEPS) {
    await runSteps(chat, step, n[step], turn, 1_000_000);
    process.stdout.write('ready\n');
    await lines.next();
    await runSteps(chat, step, n[step], turn, 2_000_000);
    process.stdout.write('done\n');
    await lines.next();
  }
  await client.quit();
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** redis-server under callgrind, its counters zeroed and dumped on demand. */
async function countedRedis(dir: string) {
  const port = await freePort();
  const out = join(dir, 'redis.callgrind');
  const [valgrind, ...valgrindArgs] = callgrindCommand(out);
  const child = spawn(valgrind!, [...valgrindArgs, 'redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr.on('data', (d: Buffer) => (log += d.toString()));
  onCleanup(async () => {
    child.kill('SIGKILL');
  });
  const url = `redis://127.0.0.1:${port}`;
  const probe = createClient({ url, socket: { reconnectStrategy: false } });
  probe.on('error', () => undefined);
  for (let tries = 0; ; tries++) {
    try {
      await probe.connect();
      break;
    } catch (err) {
      if (tries >= 120 || child.exitCode !== null) throw new Error(`redis-server under valgrind did not start: ${String(err)}\n${log}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  await probe.quit();
  const counter = instructionCounter(child.pid, out);
  return {
    url,
    /** Redis's instructions over `fn`. */
    count: (fn: () => Promise<void>) => counter.count(fn),
  };
}

/** This process's instructions a step, after as many to warm up: node under callgrind, the worker above. */
async function countNode(dir: string, n: Record<Step, number>, turn: number, url: string): Promise<Record<Step, number>> {
  const out = join(dir, 'node.callgrind');
  const [valgrind, ...valgrindArgs] = callgrindCommand(out);
  const args = [...valgrindArgs, process.execPath, '--import', 'tsx', join(repoRoot, 'bench', 'store-cost.ts')];
  const child = spawn(valgrind!, [...args, '--worker', `--posts=${n.post}`, `--pages=${n.page}`, `--turn=${turn}`, `--url=${url}`], { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const said = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const expect = async (word: string) => {
    const line = await Promise.race([said.next(), exited.then(() => undefined)]);
    if (line?.value !== word) throw new Error(`the worker did not say ${word}:\n${stderr.slice(-2000)}`);
  };
  const counter = instructionCounter(child.pid, out);
  const per: Record<Step, number> = { post: 0, page: 0 };
  for (const step of STEPS) {
    progress(`this process, under callgrind: ${n[step]} × ${step} after as many to warm up`);
    await expect('ready');
    counter.zero();
    child.stdin.write('go\n');
    await expect('done');
    per[step] = (await counter.dump()).total / n[step];
    child.stdin.write('next\n');
  }
  child.stdin.end();
  if ((await exited) !== 0) throw new Error(`the worker failed:\n${stderr.slice(-2000)}`);
  return per;
}

const thousands = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : `${(n / 1e3).toFixed(1)}k`);

async function main() {
  const opts = new Options(parseArgs(process.argv.slice(2)));
  const isWorker = opts.flag('worker', false);
  const posts = opts.int('posts', 16_000, 10, 1_000_000);
  const pages = opts.int('pages', 1600, 10, 100_000);
  const turn = opts.int('turn', 8, 1, 1000);
  if (isWorker) {
    const url = opts.str('url', '');
    opts.assertAllUsed();
    return worker({ post: posts, page: pages }, turn, url);
  }
  const json = opts.str('json');
  opts.assertAllUsed();
  requireCallgrind();
  requireTool('redis-server', ['--version'], 'Debian: apt-get install redis-server');
  checkBuilt(PROJECT_ENTRY, 'npm run bench:store');
  const dir = scratchDir('bench-store-');

  progress('starting redis-server under callgrind');
  const redis = await countedRedis(dir);
  const { client, keys, chat } = await openStore(redis.url);
  // Warm-up: the scripts loaded, and a full page of history to read.
  await runSteps(chat, 'post', ROOMS.length * PAGE, turn);
  await runSteps(chat, 'page', 20, turn);

  const n = { post: posts, page: pages };
  const redisPer: Record<Step, number> = { post: 0, page: 0 };
  for (const step of STEPS) {
    progress(`Redis: ${n[step]} × ${step}`);
    redisPer[step] = (await redis.count(() => runSteps(chat, step, n[step], turn, step === 'post' ? 1000 : 0))).total / n[step];
  }
  const stream = keys.stream('room:general');
  const streamLength = await client.xLen(stream);
  const bytesPerMessage = Number(await client.memoryUsage(stream, { SAMPLES: 0 })) / streamLength;
  await client.quit();

  // A quarter as many steps (node under callgrind is some 50 times slower), and as many again to warm up.
  const nodePer = await countNode(dir, { post: Math.max(10, Math.round(posts / 4)), page: Math.max(10, Math.round(pages / 4)) }, turn, redis.url);

  const rows = [
    [`a post to a room (postToRoom), ${turn} a turn`, thousands(redisPer.post), thousands(nodePer.post)],
    [`a page of ${PAGE} messages (page)`, thousands(redisPer.page), thousands(nodePer.page)],
  ];
  console.log(markdownTable(['step', 'Redis instructions', "this process's instructions"], rows));
  console.log(`\nRedis memory a stored message: ${bytesPerMessage.toFixed(1)} bytes (MEMORY USAGE of a stream of ${streamLength} posts / XLEN)`);
  if (json) writeFileSync(json, `${JSON.stringify({ turn, redis: redisPer, process: nodePer, bytesPerMessage }, null, 2)}\n`);
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  installCleanup();
  runMain('bench:store', main);
}
