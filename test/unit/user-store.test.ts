import { expect } from 'chai';
import type { UserStore } from '../../src/chat/ports.js';
import { createMemoryUserStore } from '../../src/store/memory/users.js';
import { redisKeys } from '../../src/store/keys.js';
import type { RedisClient } from '../../src/store/redis/client.js';
import { createRedisUserStore } from '../../src/store/redis/users.js';
import { connectTestClient, deleteKeys, uniquePrefix, type TestRedisClient } from './helpers/redis.js';
import { needs } from '../support/services.js';

const input = (username: string) => ({ username, displayName: username.toUpperCase(), passwordHash: `hash-of-${username}` });

/** The UserStore contract, on both backends. */
function contract(name: string, open: () => UserStore) {
  describe(`user store (${name})`, () => {
    it('creates a user with a fresh id and credential version 0, found by id and by name', async () => {
      const users = open();
      const alice = (await users.create(input('alice')))!;
      expect(alice).to.include({ username: 'alice', displayName: 'ALICE', passwordHash: 'hash-of-alice', credentialVersion: 0 });
      expect(await users.findById(alice.id)).to.deep.equal(alice);
      expect(await users.findByUsername('alice')).to.deep.equal(alice);
      expect(await users.findByUsername('nobody')).to.equal(null);
    });

    it('gives a name to one of many racing creates; the others get null', async () => {
      const users = open();
      const results = await Promise.all(Array.from({ length: 8 }, () => users.create(input('bob'))));
      const winners = results.filter((u) => u !== null);
      expect(winners).to.have.length(1);
      expect(await users.findByUsername('bob')).to.deep.equal(winners[0]);
    });

    it('updates the display name, and changes the password only from the expected version', async () => {
      const users = open();
      const carol = (await users.create(input('carol')))!;
      expect((await users.update(carol.id, { displayName: 'Caz' }))?.displayName).to.equal('Caz');
      expect(await users.update('no-such-id', { displayName: 'x' })).to.equal(null);
      expect(await users.changePassword(carol.id, 0, 'new-hash')).to.equal(1);
      expect(await users.changePassword(carol.id, 0, 'stale-hash'), 'a stale version loses').to.equal(null);
      expect(await users.findById(carol.id)).to.include({ passwordHash: 'new-hash', credentialVersion: 1 });
    });
  });
}

contract('memory', () => createMemoryUserStore());

describe('user store (redis)', () => {
  needs('redis');
  let client: TestRedisClient;
  const prefix = uniquePrefix();
  let n = 0;
  const keysFor = () => redisKeys(`${prefix}${++n}:`);
  before(async () => {
    client = await connectTestClient();
  });
  after(async () => {
    await deleteKeys(client, prefix);
    await client.close();
  });

  contract('redis, the contract', () => createRedisUserStore(client as unknown as RedisClient, keysFor()));

  it('never reserves a name without its user: a create that fails between its writes leaves the name free', async () => {
    const keys = keysFor();
    // The connection drops after the create's first write (whichever it is).
    let writes = 0;
    const failing = new Proxy(client, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (prop !== 'hSet' && prop !== 'hSetNX') return typeof value === 'function' ? value.bind(target) : value;
        return (...args: unknown[]) => {
          if (++writes === 2) return Promise.reject(new Error('connection lost'));
          return (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        };
      },
    });
    const interrupted = createRedisUserStore(failing as unknown as RedisClient, keys);
    const err = await interrupted.create(input('dave')).catch((e: unknown) => e as Error);
    expect(err).to.be.instanceOf(Error);
    const users = createRedisUserStore(client as unknown as RedisClient, keys);
    expect(await users.findByUsername('dave'), 'no user under the name').to.equal(null);
    const dave = await users.create(input('dave'));
    expect(dave, 'the name is still free').to.not.equal(null);
    expect(await users.findByUsername('dave')).to.deep.equal(dave);
    // And nothing of the interrupted create is left: one user record under the prefix.
    const records = [];
    for await (const batch of client.scanIterator({ MATCH: `${keys.prefix}user:*` })) records.push(...batch);
    expect(records).to.have.length(1);
  });
});
