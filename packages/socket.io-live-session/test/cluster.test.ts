/**
 * redisBus and its write lock on a Redis Cluster of the test's own (3 masters), with
 * node-redis createCluster clients: two liveSession instances (as two processes
 * would have) on one connect-redis store.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import { RedisStore } from 'connect-redis';
import { createCluster } from 'redis';
import { redisBus, storeTtlSeconds } from '../src/index.js';
import { startApp, type TestApp } from './helpers/app.js';
import { Browser, closeSockets, expectEnded, waitFor, whoami } from './helpers/client.js';
import { startOwnCluster, type OwnCluster } from '../../../test/helpers/processes.js';
import { uniquePrefix } from '../../../test/unit/helpers/redis.js';
import { needs } from '../../../test/support/services.js';

type Cluster = ReturnType<typeof createCluster>;

describe('redisBus on a Redis Cluster', function () {
  needs('redis-server', 'redis-cli');
  let cluster: OwnCluster;
  const clients: Cluster[] = [];
  const apps: TestApp[] = [];
  const prefix = uniquePrefix();

  /** One "process": its own cluster clients, bus and liveSession, on the shared prefix. */
  async function instance(): Promise<TestApp> {
    const client = createCluster({ rootNodes: cluster.nodes.map((url) => ({ url })) });
    client.on('error', () => undefined);
    await client.connect();
    const subscriber = client.duplicate();
    subscriber.on('error', () => undefined);
    await subscriber.connect();
    clients.push(client, subscriber);
    const bus = redisBus({ client, subscriber, prefix });
    await bus.ready;
    const app = await startApp('memory', { base: new RedisStore({ client, prefix: `${prefix}sess:`, ttl: storeTtlSeconds }), live: { bus } });
    apps.push(app);
    return app;
  }

  let a: TestApp;
  let b: TestApp;
  before(async () => {
    cluster = await startOwnCluster({ masters: 3 });
    a = await instance();
    b = await instance();
  });
  afterEach(closeSockets);
  after(async () => {
    await Promise.all(apps.map((app) => app.close()));
    await Promise.allSettled(clients.map((c) => c.close()));
    await cluster?.close();
  });

  it('serialises concurrent updates of one session from two instances: no lost update', async () => {
    const onA = new Browser(a.url);
    const user = await onA.login();
    const onB = new Browser(b.url);
    onB.cookie = onA.cookie;
    const sa = a.serverSocket(await onA.connect());
    const sb = b.serverSocket(await onB.connect());
    // A read-modify-write that yields in the middle: without the lock, the two would interleave.
    const increment = async (draft: object) => {
      const d = draft as { n?: number };
      const n = d.n ?? 0;
      await sleep(5);
      d.n = n + 1;
    };
    const rounds = 20;
    await Promise.all(
      [
        [a, sa],
        [b, sb],
      ].map(async ([app, socket]) => {
        for (let i = 0; i < rounds; i++) await (app as TestApp).live.update(socket as typeof sa, increment);
      }),
    );
    expect((await onA.me()).data).to.deep.equal({ passport: { user }, n: 2 * rounds });
    await waitFor(() => a.view(sa)?.n === 2 * rounds && b.view(sb)?.n === 2 * rounds, 'both instances to see the last update');
  });

  it('a change published on one instance reaches the sockets of the other; so does a logout', async () => {
    const onA = new Browser(a.url);
    const user = await onA.login();
    const onB = new Browser(b.url);
    onB.cookie = onA.cookie;
    const sb = await onB.connect();
    await onA.post('/set', { theme: 'dark' });
    await waitFor(async () => (await whoami(sb))?.theme === 'dark', 'the change on B');
    expect(await whoami(sb)).to.deep.equal({ passport: { user }, theme: 'dark' });
    await onA.post('/logout');
    await expectEnded(sb, 'logout');
  });

  it('lists and revokes a user\'s sessions across instances (the index on the cluster)', async () => {
    const onA = new Browser(a.url);
    const user = await onA.login();
    const onB = new Browser(b.url);
    await onB.login(user);
    const sb = await onB.connect();
    expect(await a.live.sessionsOf(user)).to.have.length(2);
    expect(await a.live.revokeUser(user)).to.equal(2);
    await expectEnded(sb, 'revoked');
    expect(await b.live.sessionsOf(user)).to.deep.equal([]);
  });
});
