import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import { createClient } from 'redis';
import request from 'supertest';
import type { Socket } from 'socket.io-client';
import type { Message } from '../../src/chat/types.js';
import type { SessionView } from '../../src/realtime/events.js';
import { emitAck, nextEvent, socketFor, TestClient, uniqueName, viewWhere } from '../helpers/client.js';
import { startOwnRedis, startProcess, type ServerProcess } from '../helpers/processes.js';
import { needs } from '../support/services.js';

async function open(c: TestClient, node: ServerProcess) {
  const socket = socketFor(node.url, { headers: { cookie: c.cookie } });
  await nextEvent<SessionView>(socket, 'session');
  return socket;
}

async function waitFor(what: string, check: () => Promise<boolean>, ms = 15_000) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await check().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const ready = (node: ServerProcess) => async () => (await request(node.url).get('/readyz')).status === 200;
const notReady = (node: ServerProcess) => async () => (await request(node.url).get('/readyz')).status === 503;

describe('surviving a Redis outage without a restart', function () {
  needs('redis-server');
  this.timeout(90_000);
  let redis: Awaited<ReturnType<typeof startOwnRedis>>;
  let A: ServerProcess, B: ServerProcess;
  const sockets: Socket[] = [];

  before(async () => {
    redis = await startOwnRedis();
    // A short presence grace period: Dave's leaving, replayed by the resync, settles soon after.
    const env = { REDIS_URL: redis.url, REDIS_PREFIX: 'fault:', PRESENCE_GRACE_MS: '500' };
    [A, B] = await Promise.all([startProcess(env), startProcess(env)]);
  });
  after(async () => {
    for (const s of sockets) s.close();
    await Promise.all([A?.stop(), B?.stop()]);
    await redis?.close();
  });

  it('answers promptly while Redis is away, loses no acknowledged message, and recovers everything', async () => {
    const alice = new TestClient(A.url);
    await alice.register();
    const bob = new TestClient(B.url);
    await bob.register();
    const roomId = `f-${uniqueName('r').slice(2)}`.replace(/_/g, '-');
    await alice.post('/api/rooms', { id: roomId }).expect(201);
    const sa = await open(alice, A);
    const sb = await open(bob, B);
    const aliceOnB = await open(alice, B);
    sockets.push(sa, sb, aliceOnB);
    await emitAck(sa, 'room:join', { roomId });
    await emitAck(sb, 'room:join', { roomId });
    // Everything bob's socket on B receives, to compare with what A acknowledged.
    const received = new Set<string>();
    sb.on('message:new', (m: Message) => received.add(m.id));
    const acked: string[] = [];
    /** A timeout that says which acknowledged messages B lacks, and how B's log ends (its catch-up lines). */
    const missingOnB = (err: Error): never => {
      const missing = acked.filter((id) => !received.has(id));
      throw new Error(`${err.message}: B lacks ${missing.length} of ${acked.length} (${missing.join(', ')}); B's log ends:\n${B.output().slice(-3000)}`);
    };
    const send = async (text: string) => {
      const ack = await emitAck<{ ok: boolean; message?: Message }>(sa, 'message:send', { roomId, text });
      if (ack.ok) acked.push(ack.message!.id);
      return ack.ok;
    };

    // A blip of the pub/sub connections alone, as a network hiccup would make: what A
    // publishes until B's subscriber is back reaches no other process; B catches up from the store.
    const admin = createClient({ url: redis.url });
    await admin.connect();
    await send('before the blip');
    // node-redis reconnects within milliseconds: cut again before each send, so that sends land in the gaps.
    for (let i = 0; i < 8; i++) {
      await admin.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub']);
      expect(await send(`in the gap ${i}`)).to.equal(true);
    }
    await admin.close();
    await waitFor('B catching up after the blip', async () => acked.every((id) => received.has(id))).catch(missingOnB);
    expect(B.output()).to.include('caught up the rooms with sockets here');

    // Dave will close his only tab while Redis is away.
    const dave = new TestClient(A.url);
    const daveUser = await dave.register();
    const daveSocket = await open(dave, A);

    // Steady traffic from alice, below the send limit, recording what was acknowledged.
    const failures: Array<{ code: string; ms: number }> = [];
    let sending = true;
    const traffic = (async () => {
      for (let i = 0; sending; i++) {
        const started = Date.now();
        const ack = await emitAck<{ ok: boolean; message?: Message; error?: { code: string } }>(sa, 'message:send', {
          roomId,
          text: `msg ${i}`,
        }, 6000);
        if (ack.ok) acked.push(ack.message!.id);
        else failures.push({ code: ack.error!.code, ms: Date.now() - started });
        await sleep(400);
      }
    })();

    await waitFor('some acked traffic', async () => acked.length >= 3);
    await redis.kill();

    // Readiness drops; HTTP that needs Redis answers 503 unavailable instead of hanging.
    await waitFor('readyz 503 on A', notReady(A), 5000);
    await waitFor('readyz 503 on B', notReady(B), 5000);
    const me = await request(A.url).get('/api/me').set('cookie', alice.cookie).timeout(5000);
    expect(me.status).to.equal(503);
    expect(me.body.error.code).to.equal('unavailable');
    // A socket event acks an error within 5 s (emitAck itself rejects after 5 s).
    const down = await emitAck<{ ok: boolean; error?: { code: string } }>(sb, 'message:send', { roomId, text: 'during outage' }, 5000);
    expect(down.ok).to.equal(false);
    expect(down.error!.code).to.equal('internal');
    await waitFor('a failed send in the traffic', async () => failures.length > 0, 5000);
    daveSocket.close(); // presence cannot be written now

    await redis.start();
    await waitFor('readyz 200 on A', ready(A));
    await waitFor('readyz 200 on B', ready(B));
    const ackedBeforeRecovery = acked.length;
    await waitFor('traffic acked again', async () => acked.length >= ackedBeforeRecovery + 3);
    sending = false;
    await traffic;

    // Every acknowledged message is stored; nothing unacknowledged slipped in as acked.
    const stored = (await alice.agent.get(`/api/rooms/${roomId}/messages?limit=100`).expect(200)).body.messages as Message[];
    const storedIds = new Set(stored.map((m) => m.id));
    for (const id of acked) expect(storedIds.has(id), id).to.equal(true);
    expect(stored.map((m) => m.text)).to.not.include('during outage');
    for (const f of failures) expect(f.code).to.equal('internal');

    // The adapter came back: a message on A reaches bob's socket on B.
    const got = nextEvent<Message>(sb, 'message:new');
    const sent = await emitAck<{ ok: true; message: Message }>(sa, 'message:send', { roomId, text: 'after recovery' });
    expect((await got).id).to.equal(sent.message.id);
    acked.push(sent.message.id);

    // Bob, on the other process all along, got every message acknowledged before, during and after.
    await waitFor('every acknowledged message on B', async () => acked.every((id) => received.has(id))).catch(missingOnB);

    // The room's channel is subscribed again on both processes: typing crosses too.
    const typing = nextEvent<{ typing: boolean }>(sa, 'typing');
    await emitAck(sb, 'typing', { roomId, typing: true });
    expect((await typing).typing).to.equal(true);

    // The bus subscription came back: an HTTP change on A reaches alice's socket on B.
    const seen = viewWhere(aliceOnB, (v) => v.user.displayName === 'Back Again');
    await alice.patch('/api/me', { displayName: 'Back Again' }).expect(200);
    await seen;

    // And logout still ends sockets on the other process.
    const ended = nextEvent<{ reason: string }>(aliceOnB, 'session:ended');
    await alice.logout();
    expect((await ended).reason).to.equal('logout');

    // Presence is put right: Dave, who left during the outage, is no longer online.
    await waitFor('presence resync', async () => {
      const list = await emitAck<{ ok: boolean; online?: Array<{ id: string }> }>(sb, 'presence:list', {});
      return list.ok && !list.online!.some((u) => u.id === daveUser.id) && list.online!.some((u) => u.id === bob.user!.id);
    });

    // New logins work without a restart.
    const carol = new TestClient(B.url);
    await carol.register();
  });
});
