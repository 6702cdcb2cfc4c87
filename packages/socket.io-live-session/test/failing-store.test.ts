import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import { RedisStore } from 'connect-redis';
import { createClient } from 'redis';
import { redisBus, storeTtlSeconds } from '../src/index.js';
import { startApp, type TestApp } from './helpers/app.js';
import { assign, Browser, closeSockets, expectAlive, expectEnded, keepBusy, RawPolling, recordOf, refusal, rejection, uniqueUser, waitFor, whoami } from './helpers/client.js';
import { countCalls, MinimalStore } from './helpers/stores.js';
import { startOwnRedis } from '../../../test/helpers/processes.js';
import { needs } from '../../../test/support/services.js';

/** Collects unhandled rejections while a test runs: a failing store must cause none. */
function watchUnhandled() {
  const seen: unknown[] = [];
  const listener = (reason: unknown) => seen.push(reason);
  before(() => process.on('unhandledRejection', listener));
  after(() => process.off('unhandledRejection', listener));
  return {
    async expectNone() {
      await sleep(100); // let pending rejections surface
      expect(seen.splice(0).map(String)).to.deep.equal([]);
    },
  };
}

/** A log that keeps what the package warns about. */
function captureLog() {
  const lines: string[] = [];
  return {
    lines,
    log: { warn: (_o: object, msg: string) => void lines.push(msg), error: (_o: object, msg: string) => void lines.push(msg) },
  };
}

describe('a store without touch (get, set and destroy only)', function () {
  let app: TestApp;
  afterEach(async () => {
    closeSockets();
    await app.close();
  });

  it('works: login, sockets, changes, updates, logout', async () => {
    const store = new MinimalStore();
    expect((store as { touch?: unknown }).touch).to.equal(undefined);
    app = await startApp('memory', { base: store });
    const b = new Browser(app.url);
    const user = await b.login();
    const s = await b.connect();
    await b.post('/set', { theme: 'dark' });
    await waitFor(() => app.view(app.serverSocket(s))?.theme === 'dark', 'the change');
    await app.live.update(app.serverSocket(s), assign({ room: 'a' }));
    expect((await b.me()).data).to.deep.equal({ passport: { user }, theme: 'dark', room: 'a' });
    const sid = b.sessionId;
    await b.post('/logout');
    await expectEnded(s, 'logout');
    expect(store.records.has(sid)).to.equal(false);
  });

  it('activity extends the deadline: socket events and HTTP requests keep the session, idleness ends it', async () => {
    app = await startApp('memory', { base: new MinimalStore(), live: { ttlSeconds: 2 } });
    const b = new Browser(app.url);
    const user = await b.login();
    const s = await b.connect();
    await keepBusy(s, 4500);
    await expectAlive(s);
    for (const until = Date.now() + 3000; Date.now() < until; await sleep(200)) expect((await b.me()).user).to.equal(user);
    await expectAlive(s);
    await expectEnded(s, 'expired', 10_000);
  });
});

describe('a failing store (its get or set calls back with an error)', function () {
  const unhandled = watchUnhandled();
  let app: TestApp;
  let store: MinimalStore;
  let logged: ReturnType<typeof captureLog>;
  beforeEach(async () => {
    store = new MinimalStore();
    logged = captureLog();
    app = await startApp('memory', { base: store, live: { log: logged.log } });
  });
  afterEach(async () => {
    closeSockets();
    store.heal();
    await app.close();
  });

  it('HTTP gets the error through express-session (next(err)); nothing crashes', async () => {
    const b = new Browser(app.url);
    const user = await b.login();
    store.fail('get');
    const load = await b.get('/me');
    expect(load.status).to.equal(500);
    expect(load.body.error).to.include('the store is down (get)');
    store.heal();
    store.fail('set');
    const save = await b.post('/save', { x: 1 });
    expect(save.status).to.equal(500);
    expect(save.body.error).to.include('the store is down (set)');
    store.heal();
    expect((await b.me()).user).to.equal(user);
    await unhandled.expectNone();
  });

  it('live.update rejects with the store\'s error, and the socket stays (the session did not end)', async () => {
    const b = new Browser(app.url);
    const user = await b.login();
    const s = await b.connect();
    const server = app.serverSocket(s);
    for (const method of ['get', 'set'] as const) {
      store.fail(method);
      const err = await rejection(app.live.update(server, assign({ x: method })));
      expect(err?.message, method).to.include(`the store is down (${method})`);
      expect(err?.name, method).to.not.equal('SessionEndedError');
      store.heal();
    }
    await expectAlive(s);
    await app.live.update(server, assign({ x: 'ok' }));
    expect((await b.me()).data).to.deep.equal({ passport: { user }, x: 'ok' });
    await unhandled.expectNone();
  });

  it('refuses a CONNECT it cannot check with "unavailable"; the handshake itself fails when the session cannot be loaded', async () => {
    const b = new Browser(app.url);
    await b.login();
    const raw = await RawPolling.open(app.url, { cookie: b.cookie });
    store.fail('get');
    expect(await raw.send('40')).to.equal(200);
    expect((await raw.poll()).packets).to.deep.equal(['44{"message":"unavailable"}']);
    for (const transport of ['websocket', 'polling']) {
      expect(await refusal(b.connect({ transports: [transport] })), transport).to.not.equal('connected');
    }
    expect(app.live.size).to.equal(0);
    store.heal();
    await b.connect();
    expect(logged.lines.some((l) => l.includes('refused the socket')), 'a warning').to.equal(true);
    await unhandled.expectNone();
  });

  it('a session destroyed while its process could not read the store: the socket is warned about, then ended once the store answers', async () => {
    const b = new Browser(app.url);
    await b.login();
    const s = await b.connect();
    store.fail('get', 'set', 'destroy');
    // Another process ended it (its own write went through): the record is gone, the bus says so.
    store.drop(b.sessionId);
    await app.live.bus.publish({ t: 'session', sid: b.sessionId, reason: 'logout' });
    await waitFor(() => logged.lines.some((l) => l.includes('refresh failed')), 'a warning that the session could not be re-read');
    await sleep(500);
    store.heal();
    await expectEnded(s, 'logout');
    await unhandled.expectNone();
  });

  it('a deadline passing while the store fails: the socket ends as expired once the store answers', async () => {
    await app.close();
    app = await startApp('memory', { base: store, live: { ttlSeconds: 1, log: logged.log } });
    const b = new Browser(app.url);
    await b.login();
    const s = await b.connect();
    store.fail('get', 'set');
    await waitFor(() => logged.lines.some((l) => l.includes('refresh failed')), 'a warning that the session could not be re-read');
    store.heal();
    await expectEnded(s, 'expired');
    await unhandled.expectNone();
  });

  it('a revocation whose notification could not be read at once: the sockets still get {reason: "revoked"}', async () => {
    const b = new Browser(app.url);
    const user = await b.login();
    const s = await b.connect();
    // The revocation goes through; right after it, this process's reads fail for a moment.
    const destroy = store.destroy.bind(store);
    store.destroy = (sid, cb) => {
      destroy(sid, cb);
      store.fail('get');
      setTimeout(() => store.heal(), 300);
    };
    expect(await app.live.revokeUser(user)).to.equal(1);
    await expectEnded(s, 'revoked');
    await unhandled.expectNone();
  });
});

/**
 * A Redis of the suite's own and, fresh for each test, a client (commands fail at once while
 * Redis is away: no offline queue, as an app's should), a duplicate for the subscriber, and a
 * redisBus on them whose cut-off and resync are recorded. After each test: the sockets, the
 * suite's app (`appOf`), then the clients are closed.
 */
function busOnOwnRedis(appOf: () => TestApp) {
  const own = {} as {
    redis: Awaited<ReturnType<typeof startOwnRedis>>;
    client: ReturnType<typeof createClient>;
    subscriber: ReturnType<typeof createClient>;
    bus: ReturnType<typeof redisBus>;
    cutOff: boolean;
    resynced: boolean;
  };
  before(async () => {
    own.redis = await startOwnRedis();
  });
  after(async () => {
    await own.redis.close();
  });
  beforeEach(async () => {
    own.client = createClient({ url: own.redis.url, disableOfflineQueue: true });
    own.client.on('error', () => undefined);
    await own.client.connect();
    own.subscriber = own.client.duplicate();
    own.subscriber.on('error', () => undefined);
    await own.subscriber.connect();
    own.bus = redisBus({ client: own.client, subscriber: own.subscriber, prefix: 'live:' });
    own.cutOff = false;
    own.resynced = false;
    own.bus.onCutOff(() => (own.cutOff = true));
    own.bus.onResync(() => (own.resynced = true));
    await own.bus.ready;
  });
  afterEach(async () => {
    closeSockets();
    await appOf().close();
    if (own.client.isOpen) await own.client.close();
    if (own.subscriber.isOpen) await own.subscriber.close();
  });
  return own;
}

describe('Redis stopped under connect-redis', function () {
  needs('redis-server');
  const unhandled = watchUnhandled();
  // The bus on the same Redis: its cut-off tells the process that its views may have missed changes.
  let app: TestApp;
  const own = busOnOwnRedis(() => app);
  beforeEach(async () => {
    app = await startApp('memory', { base: new RedisStore({ client: own.client, prefix: 'sess:', ttl: storeTtlSeconds }), live: { bus: own.bus } });
  });

  it('HTTP fails, live.update rejects, a CONNECT is refused, nothing crashes; all works again once Redis is back', async () => {
    const b = new Browser(app.url);
    const user = await b.login(uniqueUser());
    const s = await b.connect();
    // The first socket of another session (a session's later sockets use its live view).
    const other = new Browser(app.url);
    await other.login();
    const raw = await RawPolling.open(app.url, { cookie: other.cookie });
    await own.redis.kill();
    await waitFor(() => own.cutOff, 'the bus to report the cut-off');

    expect((await b.get('/me')).status).to.equal(500);
    expect(await rejection(app.live.update(app.serverSocket(s), assign({ x: 1 })))).to.be.instanceOf(Error);
    expect(await raw.send('40')).to.equal(200);
    expect((await raw.poll()).packets).to.deep.equal(['44{"message":"unavailable"}']);
    expect(recordOf(s).ended, 'the open socket was not ended for a store outage').to.deep.equal([]);

    await own.redis.start();
    await waitFor(() => own.client.isReady, 'the client to reconnect', 20_000);
    // Until the bus is subscribed again, another process's changes would not be heard (this test's logout included).
    await waitFor(() => own.resynced, 'the bus to resubscribe', 20_000);
    expect((await b.me()).user).to.equal(user);
    expect(await whoami(s)).to.deep.equal({ passport: { user } });
    await app.live.update(app.serverSocket(s), assign({ x: 2 }));
    expect((await b.me()).data).to.deep.equal({ passport: { user }, x: 2 });
    await b.post('/logout');
    await expectEnded(s, 'logout');
    await unhandled.expectNone();
  });
});

describe('the bus cut off (its Redis stopped), the store still answering', function () {
  needs('redis-server');
  const unhandled = watchUnhandled();
  let app: TestApp;
  let store: MinimalStore;
  const own = busOnOwnRedis(() => app);
  beforeEach(async () => {
    store = new MinimalStore();
    app = await startApp('memory', { base: store, live: { bus: own.bus } });
  });

  it("after a cut-off, a session's live view no longer vouches for its next socket: a session ended meanwhile (its notice lost) is refused", async () => {
    const b = new Browser(app.url);
    await b.login();
    // A socket of the session: this process holds its live view, which the bus keeps current.
    await b.connect();
    await own.redis.kill();
    await waitFor(() => own.cutOff, 'the bus to report the cut-off');
    const counts = countCalls(store);
    const raw = await RawPolling.open(app.url, { cookie: b.cookie });
    expect(counts.get, 'the handshake read the store (the view may have missed a change)').to.equal(1);
    // Another process ends the session; its notice cannot reach this one.
    store.drop(b.sessionId);
    expect(await raw.send('40')).to.equal(200);
    expect((await raw.poll()).packets).to.deep.equal(['44{"message":"unauthorized"}']);
    await unhandled.expectNone();
  });
});
