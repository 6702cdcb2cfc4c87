import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import type { ChatStore, Posted } from '../../src/chat/ports.js';
import type { User } from '../../src/chat/types.js';
import { createLogger } from '../../src/logger.js';
import type { ConnectionHealth } from '../../src/realtime/ports.js';
import { redisKeys, type RedisKeys } from '../../src/store/keys.js';
import { createRedisChatStore } from '../../src/store/redis/chat.js';
import type { RedisClient } from '../../src/store/redis/client.js';
import { createRedisPresenceStore } from '../../src/store/redis/presence.js';
import { createRedisRoomChannels } from '../../src/store/redis/room-channels.js';
import { createRoomServers, type RoomServers } from '../../src/store/redis/room-servers.js';
import { waitFor } from '../helpers/chat.js';
import { needs } from '../support/services.js';
import { connectTestClient, deleteKeys, uniquePrefix, type TestRedisClient } from './helpers/redis.js';

/*
 * Which processes serve a chat room (store/redis/room-servers.ts), and the post that
 * learns it in the step that stores the message: a message to a room no other process
 * serves is not published. Two "processes" on one Redis, each its own processId.
 */

const log = createLogger('silent');
const alice: User = { id: 'u-alice', username: 'alice', displayName: 'Alice' };

describe('room servers: a post knows whether another process serves the room (redis)', function () {
  needs('redis');
  this.timeout(20_000);
  const prefix = uniquePrefix();
  let client: TestRedisClient;
  let keys: RedisKeys;
  let n = 0;
  const opened: RoomServers[] = [];

  before(async () => {
    client = await connectTestClient();
  });
  beforeEach(() => {
    keys = redisKeys(`${prefix}${n++}:`);
  });
  afterEach(() => {
    for (const servers of opened.splice(0)) servers.close();
  });
  after(async () => {
    await deleteKeys(client, prefix);
    await client.close();
  });

  /** One process's registry: `serving` is the set of rooms it has sockets in. */
  function process(processId: string, o: { leaseMs?: number; serving?: Set<string> } = {}) {
    const health = new EventEmitter();
    const serving = o.serving ?? new Set<string>();
    let evalShas = 0;
    // Counts the scripts this process runs (an enter that is fresh asks Redis nothing).
    const counted = new Proxy(client, {
      get(target, name, receiver) {
        if (name === 'evalSha') evalShas++;
        const value: unknown = Reflect.get(target, name, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const servers = createRoomServers({
      client: counted as unknown as RedisClient,
      keys,
      processId,
      health: health as unknown as ConnectionHealth,
      log,
      leaseMs: o.leaseMs ?? 30_000,
      serving: (room) => serving.has(room),
    });
    opened.push(servers);
    const lapses: string[] = [];
    servers.onLapse((room) => lapses.push(room));
    return { servers, health, serving, lapses, scripts: () => evalShas };
  }

  function chatOf(processId: string, everyoneRegisters = () => true): ChatStore {
    return createRedisChatStore(client as unknown as RedisClient, keys, { historyLimit: 100, processId, everyoneRegisters });
  }

  const post = async (chat: ChatStore, roomId: string, text = 'hi') => {
    const posted = await chat.postToRoom(roomId, { roomId, user: alice, text });
    expect(posted).to.be.an('object');
    return posted as Posted;
  };

  it('answers servedElsewhere only while another process holds a running lease on the room', async () => {
    const chatA = chatOf('A');
    await chatA.createRoom({ id: 'r1', name: 'R1', private: false, owner: 'alice' });
    const a = process('A', { serving: new Set(['room:r1']) });
    const b = process('B', { leaseMs: 600, serving: new Set(['room:r1']) });
    expect((await post(chatA, 'r1')).servedElsewhere, 'nobody has entered').to.equal(false);
    await a.servers.enter('room:r1');
    expect((await post(chatA, 'r1')).servedElsewhere, 'only the poster itself serves it').to.equal(false);
    await b.servers.enter('room:r1');
    const posted = await post(chatA, 'r1', 'to both');
    expect(posted.servedElsewhere, 'B serves it').to.equal(true);
    expect(posted.message).to.include({ roomId: 'r1', text: 'to both' });
    expect((await post(chatOf('B'), 'r1')).servedElsewhere, 'A serves it, for B\'s posts').to.equal(true);
    // B stops renewing (it died): once its lease has run out, A's posts reach nobody else.
    b.servers.close();
    await sleep(700);
    expect((await post(chatA, 'r1')).servedElsewhere).to.equal(false);
  });

  it('answers servedElsewhere always while some live process does not register (an older release)', async () => {
    const chatA = chatOf('A', () => false);
    await chatA.createRoom({ id: 'r2', name: 'R2', private: false, owner: 'alice' });
    expect((await post(chatA, 'r2')).servedElsewhere).to.equal(true);
    // Without the gate at all (a store made without it) too.
    const plain = createRedisChatStore(client as unknown as RedisClient, keys, { historyLimit: 100, processId: 'A' });
    expect((await post(plain, 'r2')).servedElsewhere).to.equal(true);
  });

  it('keeps the lease of a room it serves without asking Redis at each join, renews it, and drops it once the room is not served here', async () => {
    const chatB = chatOf('B');
    await chatB.createRoom({ id: 'r3', name: 'R3', private: false, owner: 'alice' });
    const a = process('A', { leaseMs: 1500, serving: new Set(['room:r3']) });
    await a.servers.enter('room:r3');
    const after = a.scripts();
    await a.servers.enter('room:r3');
    await a.servers.enter('room:r3');
    expect(a.scripts(), 'joins of a room whose lease is fresh').to.equal(after);
    // Renewed every lease / 3: still counted well after the first lease would have run out.
    await sleep(2000); // a lapse would need the loop stalled for a whole lease (1.5 s), not a slow renewal
    expect((await post(chatB, 'r3')).servedElsewhere).to.equal(true);
    expect(a.lapses).to.deep.equal([]);
    // The room's last socket here left: the next renewal round drops the entry.
    a.serving.delete('room:r3');
    await waitFor(async () => !(await post(chatB, 'r3')).servedElsewhere, 'entry dropped');
    expect(await client.hGetAll(keys.roomServers('r3'))).to.deep.equal({});
  });

  it('tells onLapse when a renewal finds its lease gone (a stalled loop, a failover that lost it), and is counted again', async () => {
    const chatB = chatOf('B');
    await chatB.createRoom({ id: 'r4', name: 'R4', private: false, owner: 'alice' });
    const a = process('A', { leaseMs: 600, serving: new Set(['room:r4']) });
    await a.servers.enter('room:r4');
    await client.hDel(keys.roomServers('r4'), 'A');
    await waitFor(() => a.lapses.length > 0, 'lapse told');
    expect(a.lapses).to.deep.equal(['room:r4']);
    expect((await post(chatB, 'r4')).servedElsewhere).to.equal(true);
  });

  it('after a subscriber outage, trusts no lease until renewed, and renews every one (a lapse told)', async () => {
    const chatB = chatOf('B');
    await chatB.createRoom({ id: 'r5', name: 'R5', private: false, owner: 'alice' });
    const a = process('A', { serving: new Set(['room:r5']) });
    await a.servers.enter('room:r5');
    a.health.emit('cut-off');
    const before = a.scripts();
    await a.servers.enter('room:r5');
    expect(a.scripts(), 'a join during or after the outage renews').to.equal(before + 1);
    await client.hDel(keys.roomServers('r5'), 'A');
    a.health.emit('restored');
    await waitFor(() => a.lapses.length > 0, 'lapse told');
    expect((await post(chatB, 'r5')).servedElsewhere).to.equal(true);
  });

  it('enters a chat room on its hold after the subscription is in place, and a user room not at all', async () => {
    const subscriber = await connectTestClient();
    try {
      const chatB = chatOf('B');
      await chatB.createRoom({ id: 'r6', name: 'R6', private: false, owner: 'alice' });
      const a = process('A');
      const channels = createRedisRoomChannels(subscriber as unknown as RedisClient, keys, {
        registers: (room) => room.startsWith('room:'),
        enter: (room) => a.servers.enter(room),
      });
      const release = await channels.hold('room:r6');
      expect(channels.holding('room:r6')).to.equal(true);
      const channel = `${keys.adapterChannel}#/#room:r6#`;
      const [, subscribers] = (await client.sendCommand(['PUBSUB', 'SHARDNUMSUB', channel])) as [string, number];
      expect(subscribers, 'subscribed before the hold answered').to.equal(1);
      expect((await post(chatB, 'r6')).servedElsewhere, 'entered before the hold answered').to.equal(true);
      release();
      release(); // twice: counted once
      expect(channels.holding('room:r6')).to.equal(false);
      (await channels.hold('user:u1'))();
      expect(await client.exists(keys.roomServers('u1'))).to.equal(0);
    } finally {
      await subscriber.close();
    }
  });

  it('opens the gate at a heartbeat only when every live process registers', async () => {
    const told: boolean[] = [];
    const presence = createRedisPresenceStore(client as unknown as RedisClient, keys, { processId: 'A', sweepAfterMs: 500, onHeartbeat: (everyone) => told.push(everyone) });
    await presence.heartbeat();
    // A process of an older release heartbeats without saying it registers.
    await client.zAdd(keys.presenceProcesses, { score: Date.now(), value: 'old' }); // this machine's clock is Redis's
    await presence.heartbeat();
    await sleep(600); // its heartbeat is now older than sweepAfterMs: it counts as dead
    await presence.heartbeat();
    expect(told).to.deep.equal([true, false, true]);
  });
});
