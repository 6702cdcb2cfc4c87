import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import { RateLimiterMemory, RateLimiterRedis } from 'rate-limiter-flexible';
import { DEFAULT_LIMITS, type Limits } from '../../src/config.js';
import { createLimits, LimitExceeded, type Grant, type LimiterFactory, type QuotaFactory } from '../../src/security/limits.js';
import { redisKeys } from '../../src/store/keys.js';
import { memoryQuota } from '../../src/store/memory/quota.js';
import { createRedisQuota } from '../../src/store/redis/quota.js';
import { needs } from '../support/services.js';
import { connectTestClient, deleteKeys, uniquePrefix, type TestRedisClient } from './helpers/redis.js';

/*
 * The limits of socket events are leased (security/limits.ts): each process
 * reserves points of the window from the shared store and spends them locally.
 * What must hold: alone, a user gets exactly the limit; on any number of
 * processes together, never more; a refusal carries the time left; a window ends
 * with its points; a failing store is an error, never a verdict.
 */

const limitsWith = (typing: { points: number; durationSeconds: number }): Limits => ({ ...DEFAULT_LIMITS, typing });

/** Runs `n` consumes of one key at once; answers how many got through and the refusals. */
async function burst(limits: ReturnType<typeof createLimits>, key: string, n: number) {
  const results = await Promise.allSettled(Array.from({ length: n }, () => limits.consume('typing', key)));
  const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  return { ok: results.length - refused.length, refused };
}

/** A quota that counts the store's requests. */
function counted(quota: QuotaFactory) {
  const calls: Grant[] = [];
  const factory: QuotaFactory = (o) => {
    const q = quota(o);
    return { take: async (key) => {
      const g = await q.take(key);
      calls.push(g);
      return g;
    } };
  };
  return { factory, calls };
}

interface Backend {
  name: string;
  /** A process's stores: every call shares one window store (one Redis, or one in-memory map). */
  quota(): QuotaFactory;
  limiter(): LimiterFactory;
}
const limiterFactory = (): LimiterFactory => ({ name, points, durationSeconds }) =>
  new RateLimiterMemory({ keyPrefix: name, points, duration: durationSeconds });

/** In memory the "processes" of a test share one window store per limit, as processes share Redis. */
function memoryBackend(): Backend {
  const shared = new Map<string, ReturnType<QuotaFactory>>();
  const quota: QuotaFactory = (o) => {
    const limit = `${o.name} ${o.points}/${o.durationSeconds}`;
    let q = shared.get(limit);
    if (!q) shared.set(limit, (q = memoryQuota(o)));
    return q;
  };
  return { name: 'memory', quota: () => quota, limiter: limiterFactory };
}

function redisBackend(getClient: () => TestRedisClient, prefix: string): Backend {
  const keys = redisKeys(prefix);
  return {
    name: 'redis',
    quota: () => createRedisQuota(getClient(), keys),
    limiter: () => ({ name, points, durationSeconds }) =>
      new RateLimiterRedis({ storeClient: getClient(), useRedisPackage: true, keyPrefix: keys.rateLimit(name), points, duration: durationSeconds }),
  };
}

function suite(make: () => Backend) {
  const b = make();
  const processOf = (limits: Limits, quota: QuotaFactory = b.quota()) => createLimits({ limiter: b.limiter(), quota }, limits);

  it('lets exactly the limit through for a user alone on a process, in about log2(points) store requests', async () => {
    const { factory, calls } = counted(b.quota());
    const limits = processOf(limitsWith({ points: 50, durationSeconds: 30 }), factory);
    let ok = 0;
    const refused: unknown[] = [];
    for (let i = 0; i < 60; i++) {
      await limits.consume('typing', 'alice').then(() => ok++, (err: unknown) => refused.push(err));
    }
    expect(ok).to.equal(50);
    expect(refused).to.have.length(10);
    expect(calls.map((c) => c.granted)).to.deep.equal([25, 13, 6, 3, 2, 1, 0]); // then refusals are answered locally
    for (const err of refused) {
      expect(err).to.be.instanceOf(LimitExceeded);
      expect((err as LimitExceeded).code).to.equal('rate_limited');
      expect((err as LimitExceeded).limit).to.equal('typing');
      expect((err as LimitExceeded).retryAfterSeconds).to.be.within(1, 30);
    }
    // Another user's points are their own.
    await limits.consume('typing', 'bob');
  });

  it('shares one store request among concurrent events of a key', async () => {
    const { factory, calls } = counted(b.quota());
    const limits = processOf(limitsWith({ points: 50, durationSeconds: 30 }), factory);
    const { ok, refused } = await burst(limits, 'carol', 60);
    expect(ok).to.equal(50);
    expect(refused).to.have.length(10);
    expect(calls.length).to.be.at.most(8);
  });

  it('never lets more than the limit through across processes racing for the same user', async () => {
    const processes = Array.from({ length: 4 }, () => processOf(limitsWith({ points: 50, durationSeconds: 30 })));
    const results = await Promise.all(processes.map((p) => burst(p, 'dave', 40)));
    const total = results.reduce((n, r) => n + r.ok, 0);
    expect(total).to.be.at.most(50);
    // Points are reserved by halves: at least half of the limit is spent before anyone is refused.
    expect(total).to.be.at.least(25);
    for (const r of results) for (const err of r.refused) expect(err).to.be.instanceOf(LimitExceeded);
  });

  it('starts a new window once the old one ended: a lease does not outlive its window', async () => {
    const limits = processOf(limitsWith({ points: 4, durationSeconds: 1 }));
    const first = await burst(limits, 'erin', 6);
    expect(first.ok).to.equal(4);
    await sleep(1100);
    const second = await burst(limits, 'erin', 6);
    expect(second.ok).to.equal(4);
  });

  it('spends a point without waiting while the process holds one, and counts it as consume does (spendNow)', async () => {
    const { factory, calls } = counted(b.quota());
    const limits = processOf(limitsWith({ points: 10, durationSeconds: 30 }), factory);
    // Nothing held yet: the store must be asked, and nothing was counted.
    expect(limits.spendNow('typing', 'gail')).to.equal(false);
    expect(calls).to.have.length(0);
    await limits.consume('typing', 'gail'); // reserves 5, spends 1
    let now = 0;
    while (limits.spendNow('typing', 'gail')) now++;
    expect(now).to.equal(4); // the rest of what this process holds, then the store again
    let ok = 1 + now;
    for (let i = 0; i < 10; i++) {
      try {
        if (limits.spendNow('typing', 'gail')) ok++;
        else await limits.consume('typing', 'gail').then(() => ok++);
      } catch (err) {
        expect(err).to.be.instanceOf(LimitExceeded);
        expect((err as LimitExceeded).retryAfterSeconds).to.be.within(1, 30);
      }
    }
    expect(ok).to.equal(10);
    // Once the store said nothing is left, refusals come at once, without a store request.
    const asked = calls.length;
    expect(() => limits.spendNow('typing', 'gail')).to.throw(LimitExceeded);
    expect(calls).to.have.length(asked);
    // Limits that are not leased always go to the store.
    expect(limits.spendNow('room_create', 'gail')).to.equal(false);
  });

  it('is an error, not a verdict, when the store fails: nothing is admitted', async () => {
    const failing: QuotaFactory = () => ({ take: async () => Promise.reject(new Error('store down')) });
    const limits = processOf(limitsWith({ points: 50, durationSeconds: 30 }), failing);
    const { ok, refused } = await burst(limits, 'frank', 3);
    expect(ok).to.equal(0);
    for (const err of refused) {
      expect(err).to.be.instanceOf(Error);
      expect(err).not.to.be.instanceOf(LimitExceeded);
    }
  });
}

describe('leased limits of socket events (memory)', function () {
  suite(memoryBackend);
});

describe('leased limits of socket events (redis)', function () {
  needs('redis');
  const prefix = uniquePrefix();
  let client: TestRedisClient;
  before(async () => {
    client = await connectTestClient();
  });
  after(async () => {
    await deleteKeys(client, prefix);
    await client.quit();
  });
  suite(() => redisBackend(() => client, prefix));

  it('starts a new window when asked in the last millisecond of one (PTTL 0), never failing', async () => {
    // Windows of 1 ms, asked for thousands of times: many requests land in a window's last millisecond.
    const quota = createRedisQuota(client, redisKeys(prefix))({ name: 'typing', points: 1e8, durationSeconds: 0.001 });
    const failures: unknown[] = [];
    for (let round = 0; round < 500; round++) {
      await Promise.all(Array.from({ length: 20 }, () => quota.take('hal').catch((err: unknown) => failures.push(err))));
    }
    expect(failures.map(String)).to.deep.equal([]);
  });

  it('counts what a counter without expiry holds, in a window from now', async () => {
    const keys = redisKeys(prefix);
    await client.set(`${keys.rateLimit('typing')}:ivy`, '8');
    const quota = createRedisQuota(client, keys)({ name: 'typing', points: 10, durationSeconds: 30 });
    expect(await quota.take('ivy')).to.deep.include({ granted: 1 });
    expect(await quota.take('ivy')).to.deep.include({ granted: 1 });
    expect(await quota.take('ivy')).to.deep.include({ granted: 0 });
    expect(await client.pTTL(`${keys.rateLimit('typing')}:ivy`)).to.be.within(1, 30_000);
  });

  it('counts in the key rate-limiter-flexible uses for the limit, so both count together in a rolling deploy', async () => {
    const keys = redisKeys(prefix);
    const limits = { ...limitsWith({ points: 10, durationSeconds: 30 }) };
    const old = new RateLimiterRedis({ storeClient: client, useRedisPackage: true, keyPrefix: keys.rateLimit('typing'), points: 10, duration: 30 });
    await old.consume('gina', 6); // the previous release counted 6
    const leased = createLimits({ limiter: limiterFactory(), quota: createRedisQuota(client, keys) }, limits);
    const { ok } = await burst(leased, 'gina', 10);
    expect(ok).to.equal(4);
    expect(Number(await client.get(`${keys.rateLimit('typing')}:gina`))).to.equal(10);
    expect(await client.pTTL(`${keys.rateLimit('typing')}:gina`)).to.be.within(1, 30_000);
  });
});
