import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import { createClient } from 'redis';
import request from 'supertest';
import type { Socket } from 'socket.io-client';
import type { Message } from '../../src/chat/types.js';
import type { SessionView } from '../../src/realtime/events.js';
import { emitAck, nextEvent, socketFor, TestClient, uniqueName, viewWhere } from '../helpers/client.js';
import { waitFor } from '../helpers/chat.js';
import { startCluster, startOwnCluster, type OwnCluster, type ServerProcess } from '../helpers/processes.js';
import { needs } from '../support/services.js';

/*
 * A Redis Cluster of 3 masters with a replica each, and 2 server processes on it.
 * One master is killed under traffic: its replica is promoted, and the server
 * keeps serving without a restart (messages, their delivery across processes,
 * live-session events, logins, rate limits, presence). The gap is printed.
 */

type SendAck = { ok: boolean; message?: Message; error?: { code: string } };

async function open(c: TestClient, node: ServerProcess): Promise<Socket> {
  const socket = socketFor(node.url, { headers: { cookie: c.cookie } });
  await nextEvent<SessionView>(socket, 'session');
  return socket;
}

/** The hash slot of a key, asked of a node. */
async function slotOf(nodeUrl: string, key: string): Promise<number> {
  const client = await createClient({ url: nodeUrl }).connect();
  try {
    return Number(await client.sendCommand(['CLUSTER', 'KEYSLOT', key]));
  } finally {
    await client.close();
  }
}

/** The master that owns `slot` now. */
async function masterOf(own: OwnCluster, slot: number) {
  const masters = (await own.masters()).sort((a, b) => a.firstSlot - b.firstSlot);
  return [...masters].reverse().find((m) => m.firstSlot <= slot)!;
}

describe('a Redis Cluster failover under traffic', function () {
  needs('redis-server', 'redis-cli');
  this.timeout(120_000);
  let own: OwnCluster;
  let cluster: Awaited<ReturnType<typeof startCluster>>;
  let A: ServerProcess, B: ServerProcess;
  const sockets: Socket[] = [];

  before(async () => {
    own = await startOwnCluster({ masters: 3, replicas: 1 });
    cluster = await startCluster(2, { REDIS_CLUSTER_NODES: own.nodes.join(','), PRESENCE_GRACE_MS: '300' });
    [A, B] = cluster.nodes as [ServerProcess, ServerProcess];
  });
  after(async () => {
    for (const s of sockets) s.close();
    await cluster?.close();
    await own?.close();
  });

  it('promotes the replica and keeps serving without a restart: logins, messages, live sessions, limits, presence', async () => {
    // The victim: the master holding the session bus's channel; the room's messages live there too.
    const seed = own.nodes[0]!;
    const victim = await masterOf(own, await slotOf(seed, `${cluster.prefix}bus`));
    let roomId = '';
    for (let i = 0; ; i++) {
      roomId = `fo-${i}-${uniqueName('r').slice(2)}`.replace(/_/g, '-').slice(0, 32);
      if ((await masterOf(own, await slotOf(seed, `${cluster.prefix}{room:${roomId}}:stream`))).port === victim.port) break;
    }

    const alice = new TestClient(A.url);
    await alice.register();
    const bob = new TestClient(B.url);
    const bobUser = await bob.register();
    await alice.post('/api/rooms', { id: roomId }).expect(201);
    const sa = await open(alice, A);
    const sb = await open(bob, B);
    const aliceOnB = await open(alice, B);
    sockets.push(sa, sb, aliceOnB);
    for (const s of [sa, sb]) expect((await emitAck<SendAck>(s, 'room:join', { roomId })).ok).to.equal(true);
    const received = new Set<string>();
    sb.on('message:new', (m: Message) => received.add(m.id));

    // Traffic from alice on A (within the send limit), with the time of each answer.
    const acked: string[] = [];
    const answers: Array<{ ok: boolean; at: number }> = [];
    let sending = true;
    const traffic = (async () => {
      for (let i = 0; sending; i++) {
        const ack = await emitAck<SendAck>(sa, 'message:send', { roomId, text: `m${i}` }, 6000).catch(() => ({ ok: false }) as SendAck);
        answers.push({ ok: ack.ok, at: Date.now() });
        if (ack.ok) acked.push(ack.message!.id);
        await sleep(350);
      }
    })();
    await waitFor(() => acked.length >= 3, 'traffic before the failover', 10_000);

    const readyz = async () => (await request(A.url).get('/readyz')).status;
    expect(await readyz()).to.equal(200);
    const killedAt = Date.now();
    await own.kill(victim.port);
    await waitFor(async () => (await readyz()) === 503, '/readyz 503 while a master is down', 10_000);
    await waitFor(() => answers.some((a) => a.at > killedAt && !a.ok), 'a refused send while the master is down', 10_000);
    await waitFor(() => answers.some((a) => a.at > killedAt && a.ok && answers.some((b) => !b.ok && b.at < a.at && b.at > killedAt)), 'sends acked again', 30_000);
    const firstFailure = answers.find((a) => a.at > killedAt && !a.ok)!.at;
    const back = answers.find((a) => a.at > firstFailure && a.ok)!.at;
    const promoted = await masterOf(own, await slotOf(own.nodes.find((n) => !n.endsWith(`:${victim.port}`))!, `${cluster.prefix}bus`));
    expect(promoted.port, 'a replica took over the slots').to.not.equal(victim.port);
    await waitFor(async () => (await readyz()) === 200, '/readyz 200 once the replica took over', 15_000);
    console.log(`      failover: sends refused ${back - firstFailure} ms (${firstFailure - killedAt} ms after the kill, acked again ${back - killedAt} ms after it)`);

    // A few more messages, then stop: bob on B has every acknowledged message.
    const count = acked.length;
    await waitFor(() => acked.length >= count + 3, 'traffic after the failover', 10_000);
    sending = false;
    await traffic;
    await waitFor(() => acked.every((id) => received.has(id)), 'every acknowledged message on B', 15_000);

    // Live-session events cross processes on the bus's new master.
    const seen = viewWhere(aliceOnB, (v) => v.user.displayName === 'After Failover');
    await alice.patch('/api/me', { displayName: 'After Failover' }).expect(200);
    await seen;
    const ended = nextEvent<{ reason: string }>(aliceOnB, 'session:ended');
    await alice.logout();
    expect((await ended).reason).to.equal('logout');

    // Logins, and the limits, work.
    const again = new TestClient(A.url);
    await again.login(bobUser.username);
    const typing = await Promise.all(Array.from({ length: 3 }, (_, k) => k).map(async () => {
      const acks: SendAck[] = [];
      for (let i = 0; i < 20; i++) acks.push(await emitAck<SendAck>(sb, 'typing', { roomId, typing: true }));
      return acks;
    }));
    expect(typing.flat().filter((a) => a.ok)).to.have.length(50);

    // Presence answers (its keys may have moved too).
    const list = await emitAck<{ ok: boolean; online?: Array<{ id: string }> }>(sb, 'presence:list', {});
    expect(list.ok).to.equal(true);
    expect(list.online!.map((u) => u.id)).to.include(bobUser.id);
  });
});
