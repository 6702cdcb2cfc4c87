/**
 * redisBus between real processes: each test/fixtures/server.ts process is the same
 * app on the same Redis prefix, as behind a load balancer. A browser logs in on one
 * and opens sockets on the other with the same cookie.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import type { Socket as ClientSocket } from 'socket.io-client';
import { Browser, closeSockets, expectAlive, expectEnded, keepBusy, recordOf, uniqueUser, waitFor, whoami } from './helpers/client.js';
import { startFixture, type FixtureProcess } from './helpers/fixture.js';
import { createClient } from 'redis';
import { deleteKeys, REDIS_URL, uniquePrefix } from '../../../test/unit/helpers/redis.js';
import { startOwnRedis } from '../../../test/helpers/processes.js';
import { needs } from '../../../test/support/services.js';

/** The same browser (cookie) on another process. */
function sameBrowserOn(url: string, b: Browser) {
  const other = new Browser(url);
  other.cookie = b.cookie;
  return other;
}

const update = (s: ClientSocket, patch: object) => s.timeout(5000).emitWithAck('update', patch) as Promise<{ ok: boolean; error?: string }>;

/** Two processes on one Redis prefix; stopped and the prefix deleted afterwards. */
function pairOn(redisUrl: () => string, extra: { TTL_SECONDS?: string } = {}) {
  const pair = { a: undefined as unknown as FixtureProcess, b: undefined as unknown as FixtureProcess, prefix: uniquePrefix() };
  before(async () => {
    const env = { REDIS_URL: redisUrl(), PREFIX: pair.prefix, ...extra };
    [pair.a, pair.b] = await Promise.all([startFixture(env), startFixture(env)]);
  });
  afterEach(closeSockets);
  after(async () => {
    await Promise.all([pair.a?.stop(), pair.b?.stop()]);
    const client = createClient({ url: redisUrl() });
    await client.connect();
    await deleteKeys(client, pair.prefix);
    await client.close();
  });
  return pair;
}

describe('redisBus across two processes', function () {
  needs('redis');
  const p = pairOn(() => REDIS_URL);

  it('a change over HTTP on process A reaches a socket on process B without a reconnect', async () => {
    const onA = new Browser(p.a.url);
    const user = await onA.login();
    const s = await sameBrowserOn(p.b.url, onA).connect();
    expect(await whoami(s)).to.deep.equal({ passport: { user } });
    await onA.post('/set', { theme: 'dark' });
    await waitFor(() => recordOf(s).sessions.some((v) => v.theme === 'dark'), 'the change pushed to the socket on B');
    expect(await whoami(s)).to.deep.equal({ passport: { user }, theme: 'dark' });
  });

  it('a write from a socket on B reaches a socket on A, and HTTP on A', async () => {
    const onA = new Browser(p.a.url);
    const user = await onA.login();
    const sa = await onA.connect();
    const sb = await sameBrowserOn(p.b.url, onA).connect();
    expect(await update(sb, { room: 'b' })).to.include({ ok: true });
    await waitFor(async () => (await whoami(sa))?.room === 'b', 'the write on A');
    expect((await onA.me()).data).to.deep.equal({ passport: { user }, room: 'b' });
  });

  it('a logout on A ends the session\'s sockets on B and A; another session\'s socket on B stays', async () => {
    const onA = new Browser(p.a.url);
    const user = await onA.login();
    const sa = await onA.connect();
    const sb = await sameBrowserOn(p.b.url, onA).connect({ transports: ['polling'] });
    const elsewhere = new Browser(p.b.url);
    await elsewhere.login(user);
    const other = await elsewhere.connect();
    await onA.post('/logout');
    await expectEnded(sb, 'logout');
    await expectEnded(sa, 'logout');
    await expectAlive(other);
  });

  it('a revocation on A ends the user\'s other sessions\' sockets on B', async () => {
    const here = new Browser(p.a.url);
    const user = await here.login();
    const there = new Browser(p.b.url);
    await there.login(user);
    const theirs = await there.connect();
    const mine = await sameBrowserOn(p.b.url, here).connect();
    expect((await here.post('/revoke-others')).body).to.deep.equal({ count: 1 });
    await expectEnded(theirs, 'revoked');
    await expectAlive(mine);
  });

  it('a user change on B ends the sockets on A', async () => {
    const onA = new Browser(p.a.url);
    await onA.login();
    const sa = await onA.connect();
    await sameBrowserOn(p.b.url, onA).post('/set', { passport: { user: uniqueUser('other') } });
    await expectEnded(sa, 'logout');
  });
});

describe('the idle deadline across two processes (ttlSeconds 2)', function () {
  needs('redis');
  const p = pairOn(() => REDIS_URL, { TTL_SECONDS: '2' });

  it('activity on B keeps the session\'s idle socket on A alive; once idle, expiry ends the sockets on both', async () => {
    const onA = new Browser(p.a.url);
    await onA.login();
    const sa = await onA.connect();
    const sb = await sameBrowserOn(p.b.url, onA).connect();
    await keepBusy(sb, 5000);
    await expectAlive(sa);
    await expectAlive(sb);
    await Promise.all([expectEnded(sa, 'expired', 10_000), expectEnded(sb, 'expired', 10_000)]);
    expect((await onA.me()).user).to.equal(null);
  });
});

describe('redisBus through a Redis restart (own redis-server, append-only)', function () {
  needs('redis-server');
  let redis: Awaited<ReturnType<typeof startOwnRedis>>;
  before(async () => {
    redis = await startOwnRedis();
  });
  const p = pairOn(() => redis.url);
  after(async () => {
    await redis?.close();
  });

  it('processes survive it without a restart: a change on A reaches B again, a logout on A still ends B\'s socket', async () => {
    const onA = new Browser(p.a.url);
    const user = await onA.login();
    const sb = await sameBrowserOn(p.b.url, onA).connect();
    await onA.post('/set', { step: 'before' });
    await waitFor(async () => (await whoami(sb))?.step === 'before', 'the change before the restart');

    await redis.kill();
    expect((await onA.get('/me')).status, 'HTTP while Redis is away').to.equal(500);
    await sleep(1500); // long enough for the clients' reconnect attempts to fail a few times
    await redis.start();

    // A's client reconnects on its own; until then its requests fail.
    await waitFor(async () => (await onA.post('/set', { step: 'after' })).status === 200, 'a write on A after the restart', 30_000);
    await waitFor(async () => (await whoami(sb))?.step === 'after', 'the change on B after the restart', 30_000);
    expect(recordOf(sb).ended, 'B\'s socket lived through the outage').to.deep.equal([]);
    expect((await onA.me()).user, 'the session survived (append-only)').to.equal(user);

    // Changes published from now on are delivered (not only re-read after the resync).
    await onA.post('/set', { step: 'later' });
    await waitFor(() => recordOf(sb).sessions.some((v) => v.step === 'later'), 'a later change pushed to B', 30_000);

    await onA.post('/logout');
    await expectEnded(sb, 'logout', 30_000);
  });
});
