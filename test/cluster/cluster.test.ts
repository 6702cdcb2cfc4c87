import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import { createClient, createCluster } from 'redis';
import request from 'supertest';
import type { Socket } from 'socket.io-client';
import type { Message } from '../../src/chat/types.js';
import type { SessionView } from '../../src/realtime/events.js';
import { arrivesWithin, disconnected, emitAck, eventWhere, nextEvent, socketFor, TestClient, uniqueName, viewWhere } from '../helpers/client.js';
import { waitFor } from '../helpers/chat.js';
import { startCluster, startOwnCluster, startProcess, type ServerProcess } from '../helpers/processes.js';
import { dmConversation, roomConversation } from '../../src/chat/conversations.js';
import { redisKeys } from '../../src/store/keys.js';
import { createRedisChatStore } from '../../src/store/redis/chat.js';
import { deleteKeys, REDIS_URL, uniquePrefix, type TestRedisClient } from '../unit/helpers/redis.js';
import { needs, type Need } from '../support/services.js';

type Cluster = Awaited<ReturnType<typeof startCluster>>;

/** A socket to `node` with the client's cookie (cookies are per host, not per port). */
async function open(c: TestClient, node: ServerProcess, transports = ['websocket']) {
  const socket = socketFor(node.url, { transports, headers: { cookie: c.cookie } });
  const view = await nextEvent<SessionView>(socket, 'session');
  return { socket, view };
}

/** The presence grace period of the cluster's processes (PRESENCE_GRACE_MS), short so that its end can be waited for. */
const GRACE_MS = 1000;

/** What `ws` hears of one user's presence from now on: their `online` flags, in order (others' events are ignored). */
function presenceOf(ws: Socket, userId: string): boolean[] {
  const heard: boolean[] = [];
  ws.on('presence', (p: { user: { id: string }; online: boolean }) => void (p.user.id === userId && heard.push(p.online)));
  return heard;
}

const roomId = () => `c-${uniqueName('r').slice(2)}`.replace(/_/g, '-');

/** Where the processes keep everything: the shared Redis, or a 3-master Redis Cluster of the suite's own. */
const REDIS_TARGETS = [
  { name: 'one Redis', needs: ['redis'] as Need[], start: async () => ({ env: {} as Record<string, string>, nodes: [REDIS_URL], close: async () => undefined }) },
  {
    name: 'a Redis Cluster',
    needs: ['redis-server', 'redis-cli'] as Need[],
    start: async () => {
      const own = await startOwnCluster({ masters: 3 });
      return { env: { REDIS_CLUSTER_NODES: own.nodes.join(',') }, nodes: own.nodes, close: () => own.close() };
    },
  },
];

/** A connected client of the target's Redis: a cluster client when it has several nodes. */
const connectRedis = (nodes: string[]) =>
  nodes.length > 1 ? createCluster({ rootNodes: nodes.map((url) => ({ url })) }).connect() : createClient({ url: nodes[0] }).connect();

/** How many connections subscribe to a sharded channel (asked of the node that owns its slot). */
async function shardSubscribers(nodes: string[], channel: string): Promise<number> {
  const command = ['PUBSUB', 'SHARDNUMSUB', channel];
  let reply: unknown;
  if (nodes.length > 1) {
    const cluster = await createCluster({ rootNodes: nodes.map((url) => ({ url })) }).connect();
    reply = await cluster.sendCommand(channel, true, command).finally(() => cluster.close());
  } else {
    const client = await createClient({ url: nodes[0] }).connect();
    reply = await client.sendCommand(command).finally(() => client.close());
  }
  return Number((reply as [string, number])[1]);
}

for (const target of REDIS_TARGETS) describe(`several processes on ${target.name} act as one server`, function () {
  needs(...target.needs);
  this.timeout(60_000);
  let cluster: Cluster;
  let redis: Awaited<ReturnType<(typeof target)['start']>>;
  let A: ServerProcess, B: ServerProcess, C: ServerProcess;
  const sockets: Socket[] = [];
  const track = <T extends { socket: Socket }>(x: T) => (sockets.push(x.socket), x);

  before(async () => {
    redis = await target.start();
    cluster = await startCluster(3, { ...redis.env, PRESENCE_GRACE_MS: String(GRACE_MS) });
    [A, B, C] = cluster.nodes as [ServerProcess, ServerProcess, ServerProcess];
  });
  afterEach(() => {
    for (const s of sockets.splice(0)) s.close();
  });
  after(async () => {
    await cluster?.close();
    await redis?.close();
  });

  it('shows an HTTP session change on one process to sockets on the others', async () => {
    const c = new TestClient(A.url);
    await c.register();
    const onB = track(await open(c, B)).socket;
    const onC = track(await open(c, C, ['polling'])).socket;
    const seen = [viewWhere(onB, (v) => v.user.displayName === 'Renamed'), viewWhere(onC, (v) => v.prefs.theme === 'dark')];
    await c.patch('/api/me', { displayName: 'Renamed' }).expect(200);
    await c.patch('/api/prefs', { theme: 'dark' }).expect(200);
    await Promise.all(seen);
  });

  it('ends the sockets of a session on every process at logout, and only those', async () => {
    const c = new TestClient(A.url);
    const user = await c.register();
    const other = new TestClient(C.url);
    await other.login(user.username);
    const onB = track(await open(c, B)).socket;
    const onC = track(await open(c, C, ['polling'])).socket;
    const otherOnB = track(await open(other, B)).socket;
    const ended = [nextEvent<{ reason: string }>(onB, 'session:ended'), nextEvent<{ reason: string }>(onC, 'session:ended')];
    await c.logout();
    expect((await Promise.all(ended)).map((e) => e.reason)).to.deep.equal(['logout', 'logout']);
    await Promise.all([disconnected(onB), disconnected(onC)]);
    expect(await arrivesWithin(otherOnB, 'session:ended', 300)).to.equal(false);
  });

  it('ends revoked sessions\' sockets on every process', async () => {
    const a = new TestClient(A.url);
    const user = await a.register();
    const b = new TestClient(B.url);
    await b.login(user.username);
    const onC = track(await open(b, C)).socket;
    const ended = nextEvent<{ reason: string }>(onC, 'session:ended');
    await a.post('/api/sessions/revoke-others').expect(204);
    expect((await ended).reason).to.equal('revoked');
  });

  /** Alice on A and Bob on B, and a new room of Alice's that only her socket has joined. */
  async function aliceOnAbobOnB() {
    const alice = new TestClient(A.url);
    await alice.register();
    const bob = new TestClient(B.url);
    await bob.register();
    const sa = track(await open(alice, A)).socket;
    const sb = track(await open(bob, B)).socket;
    const id = roomId();
    await alice.post('/api/rooms', { id }).expect(201);
    expect((await emitAck(sa, 'room:join', { roomId: id })).ok).to.equal(true);
    return { alice, bob, sa, sb, id };
  }

  it('carries room messages, typing and reactions between processes', async () => {
    const { bob, sa, sb, id } = await aliceOnAbobOnB();
    expect((await emitAck(sb, 'room:join', { roomId: id })).ok).to.equal(true);

    const got = nextEvent<Message>(sb, 'message:new');
    const sent = await emitAck<{ ok: true; message: Message }>(sa, 'message:send', { roomId: id, text: 'across processes' });
    expect((await got).id).to.equal(sent.message.id);

    const typing = nextEvent<{ typing: boolean }>(sa, 'typing');
    await emitAck(sb, 'typing', { roomId: id, typing: true });
    expect((await typing).typing).to.equal(true);

    const reaction = nextEvent<{ reactions: Record<string, string[]> }>(sa, 'reaction');
    await emitAck(sb, 'reaction:toggle', { roomId: id, messageId: sent.message.id, emoji: '👍' });
    expect((await reaction).reactions).to.deep.equal({ '👍': [bob.user!.username] });
  });

  it('sends a room\'s broadcasts only to the processes with sockets in it (one sharded channel per room)', async () => {
    {
      const { alice, sa, sb, id } = await aliceOnAbobOnB();
      const channel = `${cluster.prefix}socket.io#/#room:${id}#`;
      const subscribers = () => shardSubscribers(redis.nodes, channel);
      expect(await subscribers(), 'only A has sockets in the room').to.equal(1);

      // Bob's join on B is acked only once B is subscribed: the next typing reaches him at once.
      expect((await emitAck(sb, 'room:join', { roomId: id })).ok).to.equal(true);
      expect(await subscribers(), 'A and B, never C').to.equal(2);
      const typing = nextEvent<{ user: { username: string }; typing: boolean }>(sb, 'typing');
      await emitAck(sa, 'typing', { roomId: id, typing: true });
      expect(await typing).to.include({ typing: true }).and.nested.include({ 'user.username': alice.user!.username });
      expect(await arrivesWithin(sa, 'typing', 200), 'the sender does not get its own typing').to.equal(false);

      // Once Bob leaves, B stops receiving the room.
      expect((await emitAck(sb, 'room:leave', { roomId: id })).ok).to.equal(true);
      let left = false;
      for (let attempt = 0; attempt < 50 && !left; attempt++) {
        left = (await subscribers()) === 1;
        if (!left) await sleep(20);
      }
      expect(left, 'B still subscribed after its last socket left the room').to.equal(true);
    }
  });

  it('publishes a room message only when another process serves the room (as of the step that stores it)', async () => {
    const { sa, sb, id } = await aliceOnAbobOnB();
    // A listener on the room's channel that is no server (it registers nothing): it sees what is published.
    const channel = `${cluster.prefix}socket.io#/#room:${id}#`;
    const heard: string[] = [];
    const listener = await connectRedis(redis.nodes);
    await listener.sSubscribe(channel, (raw: string) => void heard.push(raw));
    try {
      const own = nextEvent<Message>(sa, 'message:new');
      const alone = await emitAck<{ ok: true; message: Message }>(sa, 'message:send', { roomId: id, text: 'only A serves it' });
      expect((await own).id, 'delivered to the sender\'s own socket').to.equal(alone.message.id);

      expect((await emitAck(sb, 'room:join', { roomId: id })).ok).to.equal(true);
      const got = nextEvent<Message>(sb, 'message:new');
      const both = await emitAck<{ ok: true; message: Message }>(sa, 'message:send', { roomId: id, text: 'B serves it too' });
      expect((await got).id).to.equal(both.message.id);
      await waitFor(() => heard.some((raw) => raw.includes(both.message.id)), 'the second message published');
      expect(heard.filter((raw) => raw.includes('message:new')).map((raw) => raw.includes(both.message.id)), 'only the second was published').to.deep.equal([true]);
    } finally {
      await listener.close();
    }
  });

  it('stores the posts and DMs of one turn to many conversations, whatever slots they live in (one script call a conversation on a cluster)', async () => {
    const client = await connectRedis(redis.nodes);
    const prefix = uniquePrefix();
    try {
      const chat = createRedisChatStore(client, redisKeys(prefix), { historyLimit: 100 });
      const rooms = Array.from({ length: 12 }, () => roomId());
      for (const id of rooms) await chat.createRoom({ id, name: id, private: false, owner: 'alice' });
      const user = { id: 'u-alice', username: 'alice', displayName: 'Alice' };
      const posted = await Promise.all(rooms.flatMap((id) => [1, 2].map((n) => chat.postToRoom(id, { roomId: id, user, text: `${id} ${n}` }))));
      for (const [i, id] of rooms.entries()) {
        const mine = posted.slice(2 * i, 2 * i + 2).map((p) => (typeof p === 'string' ? p : p.message));
        expect(await chat.page(roomConversation(id), { limit: 10 })).to.deep.equal(mine);
      }
      const pairs = Array.from({ length: 12 }, (_, i) => dmConversation('alice', `friend${i}`));
      const sent = await Promise.all(pairs.map((pair, i) => chat.append(pair, { roomId: pair, user, text: `hi ${i}`, to: `friend${i}` })));
      for (const [i, pair] of pairs.entries()) expect(await chat.page(pair, { limit: 10 })).to.deep.equal([sent[i]]);
    } finally {
      if (redis.nodes.length === 1) await deleteKeys(client as TestRedisClient, prefix);
      await client.close();
    }
  });

  it('misses no message for a socket joining on another process while the room is being posted to', async () => {
    const { sa, sb, id } = await aliceOnAbobOnB();
    const live = new Set<string>();
    sb.on('message:new', (m: Message) => void live.add(m.id));
    const sent: string[] = [];
    let joined: Promise<{ ok: boolean; history?: Message[] }> | undefined;
    // Under the per-user send limit; B's join is asked for in the middle of the sends, not awaited between them.
    for (let i = 0; i < 24; i++) {
      if (i === 4) joined = emitAck(sb, 'room:join', { roomId: id });
      sent.push((await emitAck<{ ok: true; message: Message }>(sa, 'message:send', { roomId: id, text: `m${i}` })).message.id);
    }
    const join = await joined!;
    expect(join.ok).to.equal(true);
    const history = new Set(join.history!.map((m) => m.id));
    await waitFor(() => sent.every((mid) => history.has(mid) || live.has(mid)), 'every message in the join\'s history or live', 3000).catch(() => undefined);
    expect(sent.filter((mid) => !history.has(mid) && !live.has(mid)), 'neither in the history B read nor delivered live').to.deep.equal([]);
  });

  it('catches a room up when a process finds its registration as the room\'s server lost (within a renewal, 10 s)', async function () {
    this.timeout(40_000);
    const { sa, sb, id } = await aliceOnAbobOnB();
    expect((await emitAck(sb, 'room:join', { roomId: id })).ok).to.equal(true);
    // As a failover that lost the last writes would: nobody counts as serving the room any more.
    const key = `${cluster.prefix}{room:${id}}:servers`;
    const admin = await connectRedis(redis.nodes);
    try {
      expect(await admin.del(key)).to.equal(1);
    } finally {
      await admin.close();
    }
    const lost = await emitAck<{ ok: true; message: Message }>(sa, 'message:send', { roomId: id, text: 'sent while B was not counted' });
    const caughtUp = await eventWhere<Message>(sb, 'message:new', (m) => m.id === lost.message.id, 15_000);
    expect(caughtUp.text).to.equal('sent while B was not counted');
    await waitFor(() => B.output().includes('lease on a room ran out'), 'the lapse logged', 2000);
  });

  it('delivers DMs to every socket of both people, on any process', async () => {
    const alice = new TestClient(A.url);
    await alice.register();
    const bob = new TestClient(B.url);
    const bobUser = await bob.register();
    const aliceOnC = track(await open(alice, C)).socket;
    const bobOnA = track(await open(bob, A)).socket;
    const bobOnC = track(await open(bob, C)).socket;
    const aliceOnA = track(await open(alice, A)).socket;
    const all = [aliceOnC, bobOnA, bobOnC].map((s) => nextEvent<Message>(s, 'dm:new'));
    const sent = await emitAck<{ ok: true; message: Message }>(aliceOnA, 'dm:send', { to: bobUser.username, text: 'psst' });
    expect(sent.ok).to.equal(true);
    for (const m of await Promise.all(all)) expect(m.id).to.equal(sent.message.id);
  });

  it('removes a member\'s sockets from a private room on every process', async () => {
    const owner = new TestClient(A.url);
    await owner.register();
    const member = new TestClient(B.url);
    const memberUser = await member.register();
    const id = roomId();
    await owner.post('/api/rooms', { id, private: true }).expect(201);
    await owner.post(`/api/rooms/${id}/members`, { username: memberUser.username }).expect(204);
    const ms = track(await open(member, C)).socket;
    expect((await emitAck(ms, 'room:join', { roomId: id })).ok).to.equal(true);
    const removed = nextEvent<{ roomId: string }>(ms, 'room:removed');
    await owner.delete(`/api/rooms/${id}/members/${memberUser.username}`).expect(204);
    expect((await removed).roomId).to.equal(id);
    const send = await emitAck(ms, 'message:send', { roomId: id, text: 'still here?' });
    expect(send.ok).to.equal(false);
    expect(ms.connected).to.equal(true);
  });

  /**
   * A user registered on `home` (no socket yet), and a watcher's socket on `at` that
   * records what it hears of the user's presence; `listed` counts them in its presence:list.
   */
  async function watched(at: ServerProcess, home: ServerProcess) {
    const watcher = new TestClient(at.url);
    await watcher.register();
    const ws = track(await open(watcher, at)).socket;
    const c = new TestClient(home.url);
    const user = await c.register();
    const heard = presenceOf(ws, user.id);
    const listed = async () => (await emitAck<{ online: Array<{ id: string }> }>(ws, 'presence:list', {})).online.filter((x) => x.id === user.id).length;
    return { c, user, heard, listed };
  }

  /** Closes the user's last socket: one offline event, once the grace period is over. */
  async function closeLast(tab: Socket, heard: boolean[]) {
    tab.close();
    await waitFor(() => heard.length === 2, 'offline event', GRACE_MS + 5000);
    await sleep(300);
    expect(heard).to.deep.equal([true, false]);
  }

  it('treats two tabs on two processes as one user online (the second tab is silent)', async () => {
    const { c, heard, listed } = await watched(C, A);
    const tab1 = track(await open(c, A)).socket;
    await waitFor(() => heard.length === 1, 'online event');
    const tab2 = track(await open(c, B)).socket;
    await sleep(500);
    expect(heard, 'the second tab is silent').to.deep.equal([true]);
    expect(await listed()).to.equal(1);
    tab1.close();
    await sleep(500);
    expect(heard, 'closing the first is silent').to.deep.equal([true]);
    await closeLast(tab2, heard);
  });

  it('announces nothing when the only socket closes on one process and a new one opens on another within the grace period', async () => {
    const { c, heard, listed } = await watched(C, A);
    let tab = track(await open(c, A)).socket;
    await waitFor(() => heard.length === 1, 'online event');
    for (const next of [B, C, A]) {
      tab.close();
      await sleep(100); // its process has seen it go: the grace period runs
      tab = track(await open(c, next)).socket;
    }
    await sleep(GRACE_MS + 500);
    expect(heard).to.deep.equal([true]);
    expect(await listed()).to.equal(1);
    await closeLast(tab, heard);
  });

  it('shares the send limit across sockets on different processes', async () => {
    const c = new TestClient(A.url);
    const user = await c.register();
    const s1 = track(await open(c, A)).socket;
    const s2 = track(await open(c, B)).socket;
    const id = roomId();
    await c.post('/api/rooms', { id }).expect(201);
    await emitAck(s1, 'room:join', { roomId: id });
    await emitAck(s2, 'room:join', { roomId: id });
    let accepted = 0;
    let limited = 0;
    for (let i = 0; i < 40; i++) {
      const s = i % 2 ? s1 : s2;
      const ack = i % 5 === 0
        ? await emitAck(s, 'dm:send', { to: user.username, text: `dm ${i}` })
        : await emitAck(s, 'message:send', { roomId: id, text: `m ${i}` });
      if (ack.ok) accepted++;
      else {
        expect(ack.error.code).to.equal('rate_limited');
        limited++;
      }
    }
    expect(accepted).to.equal(30);
    expect(limited).to.equal(10);
  });

  it('shares the failed-login limit across processes', async () => {
    const owner = new TestClient(A.url);
    const user = await owner.register();
    const nodes = [A, B, C];
    for (let i = 0; i < 10; i++) {
      const c = new TestClient(nodes[i % 3]!.url);
      await c.fetchCsrf();
      await c.post('/api/login', { username: user.username, password: 'wrong password!' }).expect(401);
    }
    const last = new TestClient(C.url);
    await last.fetchCsrf();
    const res = await last.post('/api/login', { username: user.username, password: 'correct horse battery' }).expect(429);
    expect(res.body.error.code).to.equal('rate_limited');
  });

  /** A user with their only socket on `node`, watched from A. */
  async function connectedOn(node: ServerProcess) {
    const u = await watched(A, node);
    const socket = track(await open(u.c, node)).socket;
    await waitFor(() => u.heard.length === 1, 'online event');
    return { ...u, socket };
  }

  it('sweeps the presence of a crashed process within 30 s', async function () {
    this.timeout(45_000);
    const doomed = await startProcess(cluster.env);
    const victim = await connectedOn(doomed);
    const killedAt = Date.now();
    await doomed.stop('SIGKILL');
    await waitFor(() => victim.heard.length === 2, 'offline event', 30_000);
    expect(victim.heard).to.deep.equal([true, false]);
    expect(Date.now() - killedAt).to.be.below(30_000);
    victim.socket.close();
    expect(await victim.listed()).to.equal(0);
  });

  it('puts back the presence of a process that was only stalled past the sweep (SIGSTOP, then SIGCONT)', async function () {
    this.timeout(60_000);
    const stalled = await startProcess(cluster.env);
    try {
      const victim = await connectedOn(stalled);
      stalled.child.kill('SIGSTOP');
      await waitFor(() => victim.heard.length === 2, 'offline event from the sweep', 30_000);
      stalled.child.kill('SIGCONT');
      // Its next heartbeat finds its records gone: it puts them back, and the user is online again.
      await waitFor(() => victim.heard.length === 3, 'online event after its resync', 15_000);
      expect(victim.heard).to.deep.equal([true, false, true]);
      expect(await victim.listed()).to.equal(1);
      expect(victim.socket.connected, 'the socket lived through the stall').to.equal(true);
    } finally {
      stalled.child.kill('SIGCONT');
      await stalled.stop('SIGTERM');
    }
  });

  it("announces a crashed process's users in their grace period offline in the sweep, and nothing for those back elsewhere", async function () {
    this.timeout(45_000);
    const doomed = await startProcess({ ...cluster.env, PRESENCE_GRACE_MS: '5000' });
    const [leaver, returner] = await Promise.all([connectedOn(doomed), connectedOn(doomed)]);
    leaver.socket.close();
    returner.socket.close();
    await sleep(300);
    expect([leaver.heard, returner.heard], 'nothing during the grace period').to.deep.equal([[true], [true]]);
    const killedAt = Date.now();
    await doomed.stop('SIGKILL'); // in the middle of both grace periods: no timer will settle them
    track(await open(returner.c, B));
    await waitFor(() => leaver.heard.length === 2, 'offline event from the sweep', 30_000);
    expect(Date.now() - killedAt).to.be.below(30_000);
    expect(leaver.heard).to.deep.equal([true, false]);
    await sleep(300);
    expect(returner.heard).to.deep.equal([true]);
    expect([await returner.listed(), await leaver.listed()]).to.deep.equal([1, 0]);
  });

  it('hands the grace periods of a stopping process (SIGTERM) to the sweep: who comes back elsewhere is not announced, who does not goes offline', async function () {
    this.timeout(45_000);
    const node = await startProcess(cluster.env);
    const [leaver, returner] = await Promise.all([connectedOn(node), connectedOn(node)]);
    const stoppedAt = Date.now();
    expect(await node.stop('SIGTERM')).to.equal(0);
    track(await open(returner.c, B)); // the client reconnects, to another process
    expect([await returner.listed(), await leaver.listed()], 'both in their grace period').to.deep.equal([1, 1]);
    // Settled by the sweep of A, B or C (every 10 s) once the grace periods are over.
    await waitFor(() => leaver.heard.length === 2, 'offline event from the sweep', GRACE_MS + 15_000);
    expect(Date.now() - stoppedAt).to.be.below(GRACE_MS + 15_000);
    expect(leaver.heard).to.deep.equal([true, false]);
    await sleep(300);
    expect(returner.heard).to.deep.equal([true]);
    expect([await returner.listed(), await leaver.listed()]).to.deep.equal([1, 0]);
  });

  it('stops on SIGTERM: closes sockets so clients reconnect, exits 0 within 10 s', async () => {
    const node = await startProcess(cluster.env);
    const c = new TestClient(node.url);
    await c.register();
    const s = track(await open(c, node)).socket;
    const reason = nextEvent<string>(s, 'disconnect', 10_000);
    const started = Date.now();
    const code = await node.stop('SIGTERM');
    expect(code, node.output()).to.equal(0);
    expect(Date.now() - started).to.be.below(10_000);
    // "transport close" (not "io server disconnect") is the reason a client reconnects on.
    expect(await reason).to.equal('transport close');
    expect(node.output()).to.contain('stopped');
    await request(A.url).get('/healthz').expect(200);
  });
});

describe('session activity and expiry across processes', function () {
  needs('redis');
  this.timeout(30_000);
  let cluster: Cluster;
  before(async () => {
    cluster = await startCluster(2, { SESSION_TTL_SECONDS: '2' });
  });
  after(() => cluster.close());

  it('keeps a socket on one process alive through activity on another, and expires idle ones everywhere', async () => {
    const [A, B] = cluster.nodes as [ServerProcess, ServerProcess];
    const busy = new TestClient(A.url);
    await busy.register();
    const idle = new TestClient(A.url);
    await idle.register();
    const busySocket = (await open(busy, B)).socket;
    const idleSocket = (await open(idle, B)).socket;
    try {
      const expired = nextEvent<{ reason: string }>(idleSocket, 'session:ended', 6000);
      let busyEnded = false;
      busySocket.on('session:ended', () => (busyEnded = true));
      const until = Date.now() + 4000;
      while (Date.now() < until) {
        await busy.agent.get('/api/me').expect(200); // HTTP activity on A
        await new Promise((r) => setTimeout(r, 300));
      }
      expect((await expired).reason).to.equal('expired');
      expect(busyEnded).to.equal(false);
      expect(busySocket.connected).to.equal(true);
    } finally {
      busySocket.close();
      idleSocket.close();
    }
  });
});
