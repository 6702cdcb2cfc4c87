import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { expect } from 'chai';
import { Server } from 'socket.io';
import type { ClusterAdapter } from 'socket.io-adapter';
import { createLogger } from '../../src/logger.js';
import { deliverLocallyFirst } from '../../src/realtime/local-first.js';
import type { ConnectionHealth } from '../../src/realtime/ports.js';
import type { RedisClient } from '../../src/store/redis/client.js';
import { createShardedAdapter } from '@socket.io/redis-adapter';
import { createRoomAdapter, type RoomAdapterOptions } from '../../src/store/redis/room-adapter.js';
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

/** How many connections subscribe to a sharded channel (`PUBSUB SHARDNUMSUB`). */
async function subscribers(client: TestRedisClient, channel: string): Promise<number> {
  return Number(((await client.sendCommand(['PUBSUB', 'SHARDNUMSUB', channel])) as [string, number])[1]);
}

/** A packet as Socket.IO's emit builds it. */
const packet = (event: string, payload: unknown) => ({ type: 2, data: [event, payload], nsp: '/' });

/**
 * Redis behind: a process's publishes wait until `release()`, then go to Redis (those `fails`
 * picks, by their order, fail instead). `counts`: publishes asked for, and answered by Redis.
 */
function holdPublishes(client: TestRedisClient, fails: (i: number) => boolean = () => false) {
  let release!: () => void;
  const behind = new Promise<void>((resolve) => (release = resolve));
  const sPublish = client.sPublish.bind(client);
  const counts = { published: 0, answered: 0 };
  (client as { sPublish: typeof sPublish }).sPublish = (...args) => {
    const i = counts.published++;
    return behind.then(async () => {
      if (fails(i)) throw new Error('down');
      const reached = await sPublish(...args);
      counts.answered += 1;
      return reached;
    });
  };
  /** Puts the client's own publish back, or another in its place. */
  const restore = (other: typeof sPublish = sPublish) => ((client as { sPublish: typeof sPublish }).sPublish = other);
  return { release, counts, restore };
}

/** Records a process's publishes from now on (channel, payload as text); `settled` waits for every answer, and what the adapter does with it. */
function recordPublishes(client: TestRedisClient) {
  const sent: Array<{ channel: string; payload: string }> = [];
  const answers: Array<Promise<unknown>> = [];
  const sPublish = client.sPublish.bind(client);
  (client as { sPublish: typeof sPublish }).sPublish = (...args) => {
    sent.push({ channel: String(args[0]), payload: String(args[1]) });
    const answer = sPublish(...args);
    answers.push(answer.catch(() => undefined));
    return answer;
  };
  const settled = async () => {
    await Promise.all(answers);
    await new Promise((resolve) => setImmediate(resolve));
  };
  /** The channels published to since the last `clear`. */
  const channels = () => sent.map((m) => m.channel);
  const clear = () => void (sent.length = 0);
  return { sent, settled, channels, clear };
}

describe('room adapter: typing stays off Redis when no other process has the room (redis)', function () {
  needs('redis');
  this.timeout(20_000);
  const prefix = uniquePrefix();
  const clients: TestRedisClient[] = [];
  const servers: Server[] = [];

  /** One process: its command and subscriber connections, its Socket.IO server and the adapter's parts. */
  async function startProcess(aloneMs = 60_000, more: Partial<Pick<RoomAdapterOptions, 'log' | 'maxRelaysInFlight'>> = {}) {
    const client = await connectTestClient();
    const subscriber = await connectTestClient();
    clients.push(client, subscriber);
    const health = new EventEmitter() as unknown as ConnectionHealth;
    const tracked = (room: string) => room.startsWith('room:');
    const processId = randomUUID();
    const parts = createRoomAdapter({
      client: client as unknown as RedisClient,
      subscriber: subscriber as unknown as RedisClient,
      health,
      channelPrefix: `${prefix}io`,
      log,
      aloneMs,
      tracked,
      processId,
      ...more,
    });
    await parts.ready;
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
    /** The channels whose HELLO this process published, answered: it says it once its SSUBSCRIBE is answered. */
    const helloed = new Set<string>();
    const sPublish = client.sPublish.bind(client);
    (client as { sPublish: typeof sPublish }).sPublish = async (...args) => {
      const reached = await sPublish(...args);
      if (String(args[1]).startsWith('{"hello":')) helloed.add(String(args[0]));
      return reached;
    };
    /** What this process's sockets were written: socket id and the encoded packets. */
    const received: Array<{ sid: string; encoded: unknown[] }> = [];
    /**
     * A socket of this process (a stand-in recording what it is written) joins the room;
     * resolves once the adapter's subscription is in place and, for a tracked room, its
     * HELLO published: a HELLO still to come would land among a test's own publishes.
     */
    const join = async (socketId: string, room: string) => {
      io.of('/').sockets.set(socketId, { id: socketId, client: { writeToEngine: (encoded: unknown[]) => received.push({ sid: socketId, encoded }) } } as never);
      await adapter.addAll(socketId, new Set([socketId, room]));
      await waitFor(async () => (await subscribers(client, channel(room))) >= 1, 'subscribed');
      if (tracked(room)) await waitFor(() => helloed.has(channel(room)), 'its HELLO published');
    };
    /** This process's own channel: the relays of one turn for it, the others' IN and OUT. */
    const processChannel = `${prefix}io#process#${processId}#`;
    return { client, subscriber, io, adapter, peers: parts.peers, handled, received, join, channel, processId, processChannel, uid: (adapter as unknown as { uid: string }).uid, health };
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
    await waitFor(() => n.received.length > 0, 'the typing event reached the other process');
    expect(n.received).to.deep.equal([{ sid: 's-n-1', encoded: ['2["typing",{"typing":false}]'] }]);
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

  describe('typing to a room with sockets on another process: encoded once, relayed as it is', () => {
    it('the other process writes the sender\'s encoding to its sockets, the excluded socket gets nothing, and the sender drops its own frame', async () => {
      const p = await startProcess();
      const n = await startProcess();
      const room = 'room:relayed';
      let encodes = 0;
      const encode = (p.adapter as unknown as { _encode: (...args: unknown[]) => unknown[] })._encode.bind(p.adapter);
      (p.adapter as unknown as { _encode: typeof encode })._encode = (...args) => {
        encodes += 1;
        return encode(...args);
      };
      await p.join('s-p-5', room);
      await p.join('s-p-6', room);
      await n.join('s-n-5', room);
      await waitFor(() => !p.peers.alone(room), 'p knows of n');
      // What travels on the room's channel, as a third subscriber sees it.
      const frames: Buffer[] = [];
      const watcher = await connectTestClient();
      clients.push(watcher);
      await watcher.sSubscribe(p.channel(room), (m: Buffer) => frames.push(m), true);

      void p.adapter.broadcast(packet('typing', { roomId: 'relayed', typing: true }), { rooms: new Set([room]), except: new Set(['s-p-5']) });
      const wire = '2["typing",{"roomId":"relayed","typing":true}]';
      await waitFor(() => n.received.length > 0 && frames.length > 0, 'relayed');
      expect(encodes, 'one encode, for both processes').to.equal(1);
      expect(n.received).to.deep.equal([{ sid: 's-n-5', encoded: [wire] }]);
      expect(p.received).to.deep.equal([{ sid: 's-p-6', encoded: [wire] }]);
      // (The watcher is a subscriber p does not know of, as a process of an older release would be: p asks the room again, a HELLO.)
      expect(frames.filter((f) => f[0] === 0x1f).map(String)).to.deep.equal([`\x1f${p.uid}\n["${room}",["s-p-5"]]\n${wire}`]);
      // Not an adapter message: neither process's message handling saw it.
      expect([...p.handled, ...n.handled].filter((m) => m.uid === p.uid)).to.deep.equal([]);
      // Its own frame came back to p (it is subscribed) and was dropped: a later message arrives, the typing is not doubled.
      void p.adapter.broadcast(packet('message:new', { text: 'after' }), { rooms: new Set([room]), except: new Set() });
      await waitFor(() => n.received.length === 2, 'the message after it');
      expect(p.received.map((r) => r.sid)).to.deep.equal(['s-p-6', 's-p-5', 's-p-6']);
    });

    it('on the other process, a socket in one of the except rooms gets nothing either (the except rooms travel with the frame)', async () => {
      const p = await startProcess();
      const n = await startProcess();
      const room = 'room:except';
      await p.join('s-p-11', room);
      await n.join('s-n-11', room);
      await n.join('s-n-12', room);
      // The user's own room: on n, it holds one of the room's sockets there.
      await n.join('s-n-11', 'user:u11');
      await waitFor(() => !p.peers.alone(room), 'p knows of n');
      void p.adapter.broadcast(packet('typing', { typing: true }), { rooms: new Set([room]), except: new Set(['s-p-11', 'user:u11']) });
      // A message after it (always published, never relayed) reaches both: once it has, the typing has had its chance too.
      void p.adapter.broadcast(packet('message:new', { text: 'after' }), { rooms: new Set([room]), except: new Set() });
      const got = (event: string) => n.received.filter((r) => String(r.encoded[0]).includes(`"${event}"`)).map((r) => r.sid);
      await waitFor(() => got('message:new').length === 2, 'the message after it, on both');
      expect(got('typing')).to.deep.equal(['s-n-12']);
      expect(p.received).to.deep.equal([{ sid: 's-p-11', encoded: ['2["message:new",{"text":"after"}]'] }]);
    });

    it('while Redis has not answered maxRelaysInFlight relays, drops the next ones (logged once) instead of queueing them, and relays again once answered', async () => {
      const warned: Array<Record<string, unknown>> = [];
      const quiet = createLogger('silent');
      quiet.warn = ((obj: Record<string, unknown>) => warned.push(obj)) as typeof quiet.warn;
      const p = await startProcess(60_000, { log: quiet, maxRelaysInFlight: 3 });
      const n = await startProcess();
      const room = 'room:behind';
      await n.join('s-n-9', room);
      await p.join('s-p-9', room);
      await waitFor(() => !p.peers.alone(room), 'p knows of n');
      // Redis behind: p's publishes are answered only once released.
      const held = holdPublishes(p.client);
      const wire = (i: number) => `2["typing",{"i":${i}}]`;
      for (let i = 0; i < 6; i++) p.peers.relay(room, [], wire(i));
      expect(held.counts.published, 'published').to.equal(3);
      expect(warned).to.deep.equal([{ dropped: 1, inFlight: 3 }]);
      held.release();
      await waitFor(() => n.received.length === 3, 'the three relayed');
      expect(n.received.map((r) => r.encoded[0])).to.deep.equal([wire(0), wire(1), wire(2)]);
      // Answered: the next one is relayed; the drops within the log interval are counted, not logged.
      p.peers.relay(room, [], wire(6));
      await waitFor(() => n.received.length === 4, 'relayed again');
      expect(n.received[3]!.encoded).to.deep.equal([wire(6)]);
      expect(warned).to.have.length(1);
      // A publish that fails is answered too: it holds no place.
      let failed = 0;
      held.restore(() => {
        failed += 1;
        return Promise.reject(new Error('down'));
      });
      // (p knows n is the only other process there now: the three go to n's own channel in one publish.)
      for (let i = 0; i < 3; i++) p.peers.relay(room, [], wire(7));
      await waitFor(() => failed === 1, 'the three published, and failed');
      await new Promise((resolve) => setImmediate(resolve));
      p.peers.relay(room, [], wire(8));
      await waitFor(() => failed === 2, 'the next one published too');
    });

    it('learns from one relay to a room at a time, and from the next once that one is answered, or has failed', async () => {
      const p = await startProcess();
      const n = await startProcess();
      const room = 'room:probed';
      await n.join('s-n-10', room);
      await p.join('s-p-10', room);
      await waitFor(() => !p.peers.alone(room), 'p knows of n');
      // Redis behind: p's publishes wait for the release; the first one then fails.
      const held = holdPublishes(p.client, (i) => i === 0);
      for (let i = 0; i < 3; i++) p.peers.relay(room, [], `2["typing",{"i":${i}}]`);
      // n leaves meanwhile: the two relays behind the first will reach p alone.
      await n.adapter.delAll('s-n-10');
      await waitFor(async () => (await subscribers(p.client, p.channel(room))) === 1, 'n unsubscribed');
      held.release();
      await waitFor(() => held.counts.answered === 2, 'the two relays behind the failed one answered');
      // The failed one was the probe; the two in its shadow taught nothing, though they reached p alone.
      expect(p.peers.alone(room)).to.equal(false);
      // The failure ended the probe: the next relay learns.
      held.restore();
      p.peers.relay(room, [], '2["typing",{"i":3}]');
      await waitFor(() => p.peers.alone(room), 'learned alone from the next relay');
    });

    it('a relayed frame that does not parse is dropped; the next one is delivered', async () => {
      const p = await startProcess();
      const n = await startProcess();
      const room = 'room:garbled';
      await n.join('s-n-6', room);
      await p.join('s-p-7', room);
      for (const junk of ['\x1fsomeone', '\x1fsomeone\nnot json\n2["typing",{}]', '\x1fsomeone\n[1,[]]\n2["typing",{}]', '\x1fsomeone\n["room:garbled",[2]]\n2["typing",{}]']) {
        await p.client.sPublish(p.channel(room), junk);
      }
      await waitFor(() => !p.peers.alone(room), 'p knows of n');
      void p.adapter.broadcast(packet('typing', { typing: true }), { rooms: new Set([room]), except: new Set(['s-p-7']) });
      await waitFor(() => n.received.length > 0, 'the valid one');
      expect(n.received).to.deep.equal([{ sid: 's-n-6', encoded: ['2["typing",{"typing":true}]'] }]);
    });

    it('a process of an older release (the plain sharded adapter) ignores a relayed frame, and still gets every adapter message', async () => {
      const p = await startProcess();
      const client = await connectTestClient();
      const subscriber = await connectTestClient();
      clients.push(client, subscriber);
      const old = new Server({ adapter: createShardedAdapter(client, subscriber, { channelPrefix: `${prefix}io`, subscriptionMode: 'dynamic' }) });
      servers.push(old);
      const got: string[] = [];
      old.of('/').sockets.set('s-old', { id: 's-old', client: { writeToEngine: (encoded: unknown[]) => got.push(String(encoded[0])) } } as never);
      const room = 'room:mixed';
      await old.of('/').adapter.addAll('s-old', new Set(['s-old', room]));
      await waitFor(async () => (await subscribers(p.client, p.channel(room))) >= 1, 'old subscribed');
      await p.join('s-p-8', room);
      await waitFor(() => !p.peers.alone(room), 'p counts the old process as a peer');
      void p.adapter.broadcast(packet('typing', { typing: true }), { rooms: new Set([room]), except: new Set(['s-p-8']) });
      void p.adapter.broadcast(packet('message:new', { text: 'kept' }), { rooms: new Set([room]), except: new Set() });
      await waitFor(() => got.length > 0, 'the message reached the old process');
      expect(got).to.deep.equal(['2["message:new",{"text":"kept"}]']);
    });
  });

  describe('every other process in the room known: typing goes to each one\'s own channel, a turn\'s in one publish', () => {
    type Proc = Awaited<ReturnType<typeof startProcess>>;
    /** The publishes of `from` on the channel of `to`, of the kind given (`in`, `out`, `relay`). */
    const told = (pub: ReturnType<typeof recordPublishes>, to: Proc, kind: string) =>
      pub.sent.filter((m) => m.channel === to.processChannel && (JSON.parse(m.payload.slice(1)) as unknown[])[1] === kind);
    /**
     * p has a socket in each room, then n: p hears n's HELLO in each and answers IN; then one
     * relay of p's to each room, on the room's channel, reaches p and n and nobody else: from
     * then on p knows every process there.
     */
    async function bothIn(rooms: string[]) {
      const p = await startProcess();
      const n = await startProcess();
      const pub = recordPublishes(p.client);
      for (const room of rooms) await p.join('s-p-30', room);
      for (const room of rooms) await n.join('s-n-30', room);
      await waitFor(() => told(pub, n, 'in').length === rooms.length, 'p heard n\'s hellos');
      for (const room of rooms) p.peers.relay(room, [], `2["typing",{"probe":"${room}"}]`);
      await pub.settled();
      await waitFor(() => n.received.length === rooms.length, 'the probes relayed');
      expect(pub.sent.filter((m) => m.payload.startsWith('\x1f')).map((m) => m.channel), 'the probes, on the rooms\' channels').to.deep.equal(rooms.map(p.channel));
      n.received.length = 0;
      pub.clear();
      return { p, n, pub };
    }

    it('a turn\'s relays to two rooms reach the other process in one publish on its own channel, and none on the rooms\' channels', async () => {
      const rooms = ['room:batch-a', 'room:batch-b'];
      const { p, n, pub } = await bothIn(rooms);
      const wire = (i: number) => `2["typing",{"i":${i}}]`;
      p.peers.relay(rooms[0]!, ['s-p-30'], wire(0));
      p.peers.relay(rooms[1]!, [], wire(1));
      p.peers.relay(rooms[0]!, [], wire(2));
      await waitFor(() => n.received.length === 3, 'the three relayed');
      expect(pub.channels()).to.deep.equal([n.processChannel]);
      expect(pub.sent[0]!.payload).to.equal(`\x1e${JSON.stringify([p.processId, 'relay', [[rooms[0], ['s-p-30'], wire(0)], [rooms[1], [], wire(1)], [rooms[0], [], wire(2)]]])}`);
      expect(n.received).to.deep.equal([0, 1, 2].map((i) => ({ sid: 's-n-30', encoded: [wire(i)] })));
      // Through the adapter, as the server broadcasts: the sender's own socket is excluded here, the one on n gets it.
      void p.adapter.broadcast(packet('typing', { typing: true }), { rooms: new Set([rooms[1]!]), except: new Set(['s-p-30']) });
      await waitFor(() => n.received.length === 4, 'the broadcast relayed');
      expect(n.received[3]).to.deep.equal({ sid: 's-n-30', encoded: ['2["typing",{"typing":true}]'] });
      expect(p.received).to.deep.equal([]);
      expect(pub.channels()).to.deep.equal([n.processChannel, n.processChannel]);
    });

    it('a process that joins later is told of by its HELLO, learns of those there from their IN, and its own second relay goes to each one\'s channel', async () => {
      const room = 'room:later';
      const { p, n, pub } = await bothIn([room]);
      const m = await startProcess();
      const fromN = recordPublishes(n.client);
      const fromM = recordPublishes(m.client);
      await m.join('s-m-30', room);
      await waitFor(() => told(pub, m, 'in').length === 1 && told(fromN, m, 'in').length === 1, 'p and n answered m\'s hello');
      // p: still sure of everyone there, m included: to the two processes' channels at once.
      p.peers.relay(room, [], '2["typing",{"from":"p"}]');
      await waitFor(() => n.received.length === 1 && m.received.length === 1, 'relayed to n and m');
      expect(told(pub, n, 'relay')).to.have.length(1);
      expect(told(pub, m, 'relay')).to.have.length(1);
      expect(pub.sent.filter((msg) => msg.payload.startsWith('\x1f')), 'nothing on the room\'s channel').to.deep.equal([]);
      // m: its first relay probes the room's channel (three subscribers: p, n and itself, all known), the second goes to p's and n's channels.
      m.peers.relay(room, [], '2["typing",{"from":"m","i":1}]');
      await fromM.settled();
      m.peers.relay(room, [], '2["typing",{"from":"m","i":2}]');
      await waitFor(() => n.received.length === 3 && p.received.length === 2, 'both of m\'s relays, on p and n');
      expect(fromM.channels().filter((c) => c !== p.processChannel && c !== n.processChannel), 'm on the room\'s channel: its HELLO and its first relay').to.deep.equal([m.channel(room), m.channel(room)]);
      expect(told(fromM, p, 'relay')).to.have.length(1);
      expect(told(fromM, n, 'relay')).to.have.length(1);
    });

    it('a process that left the room answers OUT to a relay for it, and the sender forgets it there', async () => {
      const room = 'room:left';
      const { p, n } = await bothIn([room]);
      const fromN = recordPublishes(n.client);
      await n.adapter.delAll('s-n-30');
      await waitFor(async () => (await subscribers(p.client, p.channel(room))) === 1, 'n unsubscribed');
      expect(p.peers.alone(room), 'p does not know yet').to.equal(false);
      p.peers.relay(room, [], '2["typing",{}]');
      await waitFor(() => told(fromN, p, 'out').length === 1, 'n answered OUT');
      // Nobody else known there, and everyone was known: alone, from the OUT alone (the bound is a minute here).
      await waitFor(() => p.peers.alone(room), 'p forgot n');
      expect(n.received).to.deep.equal([]);
    });

    it('a process that is gone (nobody subscribes to its channel) is forgotten at the first relay to it', async () => {
      const room = 'room:gone';
      const { p, n, pub } = await bothIn([room]);
      await n.subscriber.quit();
      await waitFor(async () => (await subscribers(p.client, p.channel(room))) === 1, 'n gone');
      p.peers.relay(room, [], '2["typing",{}]');
      await waitFor(() => p.peers.alone(room), 'p forgot n');
      expect(pub.channels()).to.deep.equal([n.processChannel]);
    });

    it('a subscriber it does not know of (a process of an older release) keeps relays on the room\'s channel; the room is asked again at most once per aloneMs', async () => {
      const room = 'room:unknown';
      const p = await startProcess();
      const n = await startProcess();
      await p.join('s-p-31', room);
      await n.join('s-n-31', room);
      const frames: Buffer[] = [];
      const watcher = await connectTestClient();
      clients.push(watcher);
      await watcher.sSubscribe(p.channel(room), (msg: Buffer) => frames.push(msg), true);
      const pub = recordPublishes(p.client);
      for (let i = 0; i < 4; i++) {
        p.peers.relay(room, [], `2["typing",{"i":${i}}]`);
        await pub.settled();
      }
      await waitFor(() => frames.filter((f) => f[0] === 0x1f).length === 4 && n.received.length === 4, 'every relay on the room\'s channel');
      expect(pub.channels().filter((c) => c !== n.processChannel)).to.deep.equal([p.channel(room), p.channel(room), ...Array<string>(3).fill(p.channel(room))]);
      expect(frames.filter((f) => String(f).startsWith('{"hello":')).map(String), 'one census').to.deep.equal([`{"hello":"${p.processId}"}`]);
    });

    it('a message on a process\'s channel that does not parse is dropped; the next one is delivered', async () => {
      const room = 'room:garbled-process';
      const p = await startProcess();
      const n = await startProcess();
      await n.join('s-n-32', room);
      const junk = [
        '\x1enot json',
        '\x1e[1]',
        '\x1e["bad id!","relay",[]]',
        '\x1e["someone","relay","not a list"]',
        '\x1e["someone","relay",[["room:garbled-process",[2],"2[\\"typing\\",{}]"],[1]]]',
        '\x1e["someone","in",7]',
        '{"hello":"someone"}',
      ];
      for (const msg of junk) await p.client.sPublish(n.processChannel, msg);
      await p.client.sPublish(n.processChannel, `\x1e${JSON.stringify(['someone', 'relay', [[room, [], '2["typing",{"ok":true}]']]])}`);
      await waitFor(() => n.received.length > 0, 'the valid one');
      expect(n.received).to.deep.equal([{ sid: 's-n-32', encoded: ['2["typing",{"ok":true}]'] }]);
    });
  });
});
