import { EventEmitter } from 'node:events';
import { expect } from 'chai';
import { Server } from 'socket.io';
import type { ClusterAdapter } from 'socket.io-adapter';
import { createLogger } from '../../src/logger.js';
import { deliverLocallyFirst } from '../../src/realtime/local-first.js';
import type { ConnectionHealth } from '../../src/realtime/ports.js';
import type { RedisClient } from '../../src/store/redis/client.js';
import { createRoomAdapter } from '../../src/store/redis/room-adapter.js';
import { waitFor } from '../helpers/chat.js';
import { needs } from '../support/services.js';
import { connectTestClient, uniquePrefix, type TestRedisClient } from './helpers/redis.js';

/*
 * The sharded adapter as the server uses it (store/redis/room-adapter.ts with
 * realtime/local-first.ts), two "processes" on one Redis: a typing event to a room
 * no other process has sockets in stays off Redis; a process that gets a socket in
 * the room says so (HELLO) and typing is published again at once; every other
 * broadcast is always published; our own broadcasts coming back from Redis are
 * dropped unparsed, others' delivered.
 */

const log = createLogger('silent');

/** `INFO commandstats` calls of SPUBLISH so far. */
async function spublishes(client: TestRedisClient): Promise<number> {
  const info = await client.info('commandstats');
  return Number(/cmdstat_spublish:calls=(\d+)/.exec(info)?.[1] ?? 0);
}

/** A packet as Socket.IO's emit builds it. */
const packet = (event: string, payload: unknown) => ({ type: 2, data: [event, payload], nsp: '/' });

describe('room adapter: typing stays off Redis when no other process has the room (redis)', function () {
  needs('redis');
  this.timeout(20_000);
  const prefix = uniquePrefix();
  const clients: TestRedisClient[] = [];
  const servers: Server[] = [];

  /** One process: its command and subscriber connections, its Socket.IO server and the adapter's parts. */
  async function startProcess(aloneMs = 60_000) {
    const client = await connectTestClient();
    const subscriber = await connectTestClient();
    clients.push(client, subscriber);
    const health = new EventEmitter() as unknown as ConnectionHealth;
    const parts = createRoomAdapter({
      client: client as unknown as RedisClient,
      subscriber: subscriber as unknown as RedisClient,
      health,
      channelPrefix: `${prefix}io`,
      log,
      aloneMs,
      tracked: (room) => room.startsWith('room:'),
    });
    const io = new Server({ adapter: parts.adapter });
    servers.push(io);
    const adapter = io.of('/').adapter as ClusterAdapter;
    deliverLocallyFirst(adapter, parts.peers);
    // What reaches the adapter's own handling of other processes' messages (after the raw filter).
    const handled: Array<{ uid: string; type: number }> = [];
    const onMessage = (adapter as unknown as { onMessage: (m: { uid: string; type: number }, o?: string) => unknown }).onMessage.bind(adapter);
    (adapter as unknown as { onMessage: typeof onMessage }).onMessage = (m, offset) => {
      handled.push({ uid: m.uid, type: m.type });
      return onMessage(m, offset);
    };
    const channel = (room: string) => `${prefix}io#/#${room}#`;
    /** A socket of this process joins the room; resolves once the adapter's subscription is in place. */
    const join = async (socketId: string, room: string) => {
      await adapter.addAll(socketId, new Set([room]));
      await waitFor(async () => Number(((await client.sendCommand(['PUBSUB', 'SHARDNUMSUB', channel(room)])) as [string, number])[1]) >= 1, 'subscribed');
    };
    return { client, adapter, peers: parts.peers, handled, join, uid: (adapter as unknown as { uid: string }).uid, health };
  }

  after(async () => {
    for (const io of servers) io.close();
    for (const c of clients) await c.quit().catch(() => undefined);
  });

  it('publishes typing once, learns nobody else is there, then keeps it off Redis; other broadcasts are still published', async () => {
    const p = await startProcess();
    const room = 'room:alone';
    await p.join('s-p-1', room);
    expect(p.peers.alone(room)).to.equal(false);
    void p.adapter.broadcast(packet('typing', { typing: true }), { rooms: new Set([room]), except: new Set() });
    await waitFor(() => p.peers.alone(room), 'learned alone from the publish reaching only itself');
    const before = await spublishes(p.client);
    for (let i = 0; i < 20; i++) void p.adapter.broadcast(packet('typing', { typing: i % 2 === 0 }), { rooms: new Set([room]), except: new Set() });
    void p.adapter.broadcast(packet('message:new', { text: 'stored' }), { rooms: new Set([room]), except: new Set() });
    await waitFor(async () => (await spublishes(p.client)) > before, 'the message published');
    // The spublishes counted: the message only (this suite's Redis connections publish nothing else meanwhile).
    expect((await spublishes(p.client)) - before).to.equal(1);
    // Its own broadcasts, back from Redis, never reached the adapter's message handling.
    expect(p.handled.filter((m) => m.uid === p.uid)).to.deep.equal([]);
  });

  it('publishes typing again as soon as another process gets a socket in the room (its HELLO), long before the bound', async () => {
    const p = await startProcess();
    const n = await startProcess();
    const room = 'room:joined-later';
    await p.join('s-p-2', room);
    void p.adapter.broadcast(packet('typing', { typing: true }), { rooms: new Set([room]), except: new Set() });
    await waitFor(() => p.peers.alone(room), 'alone');
    await n.join('s-n-1', room);
    // The bound is a minute here: only the hello can end it within the test.
    await waitFor(() => !p.peers.alone(room), 'told by the hello');
    void p.adapter.broadcast(packet('typing', { typing: false }), { rooms: new Set([room]), except: new Set() });
    await waitFor(() => n.handled.some((m) => m.uid === p.uid && m.type === 3), 'the typing event reached the other process');
    // And with two processes in the room, a publish proves nobody is alone.
    expect(p.peers.alone(room)).to.equal(false);
  });

  it('forgets what it knew when the subscriber connection is cut off', async () => {
    const p = await startProcess();
    const room = 'room:cut';
    await p.join('s-p-3', room);
    void p.adapter.broadcast(packet('typing', { typing: true }), { rooms: new Set([room]), except: new Set() });
    await waitFor(() => p.peers.alone(room), 'alone');
    (p.health as unknown as EventEmitter).emit('cut-off');
    expect(p.peers.alone(room)).to.equal(false);
  });

  it('counts nobody as alone in a room it has no socket in', async () => {
    const p = await startProcess();
    const room = 'room:not-mine';
    void p.adapter.broadcast(packet('typing', { typing: true }), { rooms: new Set([room]), except: new Set() });
    await new Promise((r) => setTimeout(r, 100));
    expect(p.peers.alone(room)).to.equal(false);
  });

  it('says HELLO only for the rooms it tracks: a socket in a user room costs no publish', async () => {
    const p = await startProcess();
    const before = await spublishes(p.client);
    await p.join('s-p-4', 'user:u1');
    await p.join('s-p-4', 'room:tracked');
    await waitFor(async () => (await spublishes(p.client)) > before, 'the hello of the chat room');
    // One connection publishes in order: a hello of the user room would have come first.
    expect((await spublishes(p.client)) - before, 'hellos').to.equal(1);
    // A broadcast to an untracked room is published, and never counts it as alone (INFO comes after its answer).
    void p.adapter.broadcast(packet('typing', { typing: true }), { rooms: new Set(['user:u1']), except: new Set() });
    await waitFor(async () => (await spublishes(p.client)) > before + 1, 'the typing published');
    expect(p.peers.alone('user:u1')).to.equal(false);
    // Whereas the same in the tracked room is learned from.
    void p.adapter.broadcast(packet('typing', { typing: true }), { rooms: new Set(['room:tracked']), except: new Set() });
    await waitFor(() => p.peers.alone('room:tracked'), 'alone in the tracked room');
  });
});
