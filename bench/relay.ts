/**
 * The cross-process path of a typing event, without sockets or a load generator: two
 * "processes" (two room adapters as the server builds them, store/redis/room-adapter.ts
 * with realtime/local-first.ts, each with its own Redis connections) in this one process,
 * 100 rooms with a member on each side, and N typing broadcasts a round from one side to
 * the other. Each member is a stand-in that counts what it is written, so what is measured
 * is the path itself: encode, publish, Redis, the other side's decode and delivery. Two
 * ways, in interleaved rounds:
 *   relay    → encoded once and relayed as it is (RoomPeers.relay), as the server does: once
 *              the sender knows every process in a room, on the other side's own channel,
 *              a turn's events in one publish (a round emits 100 rooms' a turn, more than a
 *              server's turn has); on the room's channel while it does not (a room's first
 *              event, and one a second that checks it), whose copy comes back to the sender
 *   adapter  → Socket.IO's cluster adapter message (the packet as an object) on the room's
 *              channel, as before, whose copy comes back to the sender too
 * Reported per event: this process's CPU (both sides) and Redis's CPU (INFO).
 *
 *   npx tsx bench/relay.ts [--rounds=5] [--events=50000] [--rooms=100]
 */
import { EventEmitter } from 'node:events';
import { Server } from 'socket.io';
import type { ClusterAdapter } from 'socket.io-adapter';
import { createClient } from 'redis';
import { createLogger } from '../src/logger.js';
import { deliverLocallyFirst } from '../src/realtime/local-first.js';
import type { ConnectionHealth } from '../src/realtime/ports.js';
import type { RedisClient } from '../src/store/redis/client.js';
import { createRoomAdapter } from '../src/store/redis/room-adapter.js';
import { installCleanup, runMain } from './lib/children.js';
import { openBenchRedis, REDIS_URL } from './lib/redis.js';
import { fmt, markdownTable, median, Options, parseArgs, progress, waitUntil } from './lib/util.js';

type Way = 'relay' | 'adapter';
/** How long a round waits for the last of its events to arrive: a lost one fails the run rather than hanging it. */
const ROUND_TIMEOUT_MS = 60_000;

async function main() {
  const opts = new Options(parseArgs(process.argv.slice(2)));
  const rounds = opts.int('rounds', 5, 1, 100);
  const rooms = opts.int('rooms', 100, 1, 10_000);
  const events = Math.ceil(opts.int('events', 50_000, 100, 10_000_000) / rooms) * rooms;
  opts.assertAllUsed();
  const redis = await openBenchRedis('relay');
  progress(`Redis ${REDIS_URL} (prefix ${redis.prefix}: this run's channels)`);
  const clients: Array<ReturnType<typeof createClient>> = [];
  const user = { id: '7f603c13-2425-4a78-aeb5-b92fdf057ca1', username: 'someone', displayName: 'Some One' };

  /** One side: its connections, its Socket.IO server and adapter; `relay` decides how its typing leaves. */
  async function side(name: string, relay: boolean) {
    const client = createClient({ url: REDIS_URL });
    const subscriber = client.duplicate();
    await Promise.all([client.connect(), subscriber.connect()]);
    clients.push(client, subscriber);
    const parts = createRoomAdapter({
      client: client as unknown as RedisClient,
      subscriber: subscriber as unknown as RedisClient,
      health: new EventEmitter() as unknown as ConnectionHealth,
      channelPrefix: `${redis.prefix}io`,
      log: createLogger('silent'),
      tracked: (room) => room.startsWith('room:'),
      // A round emits 100 rooms' typing a turn without waiting for Redis, so far more relays
      // are in flight than a server has (its senders wait for their acks): with the server's
      // bound, the ones beyond it were dropped, as designed, and the round waited for them forever.
      maxRelaysInFlight: Infinity,
    });
    const io = new Server({ adapter: parts.adapter });
    const adapter = io.of('/').adapter as ClusterAdapter;
    // Without peers, a typing event is published as the cluster adapter's own message.
    deliverLocallyFirst(adapter, relay ? parts.peers : undefined);
    let written = 0;
    const join = async (room: number) => {
      const sid = `${name}${room}`;
      io.of('/').sockets.set(sid, { id: sid, client: { writeToEngine: () => void written++ } } as never);
      await adapter.addAll(sid, new Set([sid, `room:${room}`]));
    };
    return { io, join, written: () => written };
  }

  const senders: Record<Way, Awaited<ReturnType<typeof side>>> = { relay: await side('r', true), adapter: await side('a', false) };
  const receiver = await side('n', true);
  for (let i = 0; i < rooms; i++) await Promise.all([senders.relay.join(i), senders.adapter.join(i), receiver.join(i)]);
  await new Promise((r) => setTimeout(r, 500)); // the hellos and subscriptions settle

  /** N typing events from `way`'s sender, 100 rooms a turn of the event loop; resolves once all are written on the receiver. */
  async function round(way: Way) {
    const before = receiver.written();
    const r0 = await redis.reading();
    const c0 = process.cpuUsage();
    for (let k = 0; k < events / rooms; k++) {
      for (let i = 0; i < rooms; i++) senders[way].io.to(`room:${i}`).except(`${way[0]}${i}`).emit('typing', { roomId: String(i), user, typing: k % 2 === 0 });
      await new Promise((r) => setImmediate(r));
    }
    if (!(await waitUntil(() => receiver.written() - before >= events, ROUND_TIMEOUT_MS, 1))) {
      throw new Error(`${way}: ${receiver.written() - before} of ${events} typing events arrived within ${ROUND_TIMEOUT_MS / 1000} s`);
    }
    const cpu = process.cpuUsage(c0);
    const r1 = await redis.reading();
    return { us: (cpu.user + cpu.system) / events, redisUs: ((r1.cpuSeconds - r0.cpuSeconds) * 1e6) / events };
  }

  const results: Record<Way, Array<{ us: number; redisUs: number }>> = { relay: [], adapter: [] };
  for (let r = -1; r < rounds; r++) {
    for (const way of (r % 2 === 0 ? ['relay', 'adapter'] : ['adapter', 'relay']) as Way[]) {
      progress(`${r < 0 ? 'warm-up' : `round ${r + 1}/${rounds}`}: ${way} (${events} typing events over ${rooms} rooms)`);
      const res = await round(way);
      if (r >= 0) results[way].push(res);
    }
  }
  const row = (label: string, pick: (x: { us: number; redisUs: number }) => number) => [
    label,
    fmt(median(results.relay.map(pick))),
    fmt(median(results.adapter.map(pick))),
    `${fmt(median(results.relay.map(pick)) / median(results.adapter.map(pick)))}×`,
  ];
  console.log(markdownTable(['per typing event (µs, median)', 'relay', 'adapter', 'relay / adapter'], [row('this process (both sides)', (x) => x.us), row('Redis', (x) => x.redisUs)]));
  console.log(`\nper round: relay ${results.relay.map((x) => fmt(x.us)).join(' / ')}; adapter ${results.adapter.map((x) => fmt(x.us)).join(' / ')}`);
  // (Not io.close(): these servers were never bound to an HTTP server, so they have no engine to close.)
  await Promise.all(clients.map((c) => c.quit().catch(() => undefined)));
  await redis.close();
}

installCleanup();
runMain('relay', main);
