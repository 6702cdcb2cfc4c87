import { expect } from 'chai';
import { createLogger } from '../../src/logger.js';
import { redisKeys } from '../../src/store/keys.js';
import { createRedisChatStore } from '../../src/store/redis/chat.js';
import { migrateKeyLayout } from '../../src/store/redis/layout.js';
import { connectTestClient, deleteKeys, uniquePrefix, type TestRedisClient } from './helpers/redis.js';
import { needs } from '../support/services.js';

/*
 * An existing single Redis written by the version before Redis Cluster support
 * (rooms in one hash, conversation keys without hash tags) is moved, once, to the
 * hash-tagged layout on start, and reads the same afterwards.
 */
describe('the key layout migration', () => {
  needs('redis');
  let client: TestRedisClient;
  const prefixes: string[] = [];
  before(async () => {
    client = await connectTestClient();
  });
  after(async () => {
    for (const p of prefixes) await deleteKeys(client, p);
    await client.close();
  });

  it('moves rooms, members, messages, DMs and reactions to the tagged keys, drops the old ephemeral keys, and runs once', async () => {
    const p = uniquePrefix();
    prefixes.push(p);
    const keys = redisKeys(p);
    const user = { uid: 'id-alice', un: 'alice', dn: 'Alice' };
    // Layout 1, as the previous version wrote it.
    await client.hSet(`${p}rooms`, {
      general: JSON.stringify({ id: 'general', name: 'General', private: false, owner: null }),
      secret: JSON.stringify({ id: 'secret', name: 'Secret', private: true, owner: 'alice' }),
    });
    await client.sAdd(`${p}room:secret:members`, ['alice', 'bob']);
    const inRoom = await client.xAdd(`${p}room:secret:stream`, '*', { r: 'secret', ...user, t: 'hello room' });
    const inDm = await client.xAdd(`${p}dm:alice:bob:stream`, '*', { r: 'dm:alice:bob', ...user, t: 'hello bob', to: 'bob' });
    await client.hSet(`${p}react:room:secret`, inRoom, JSON.stringify({ '👍': ['bob'] }));
    await client.sAdd(`${p}presence`, 'id-alice');
    await client.hSet(`${p}presence:user:id-alice`, 's1', 'old-process');
    await client.zAdd(`${p}interest:procs`, { score: 1, value: 'old-process' });
    await client.xAdd(`${p}socket.io`, '*', { data: 'x' });

    await migrateKeyLayout(client, keys, createLogger('silent'));

    const chat = createRedisChatStore(client, keys, { historyLimit: 100 });
    expect((await chat.listRooms()).map((r) => r.id).sort()).to.deep.equal(['general', 'secret']);
    expect(await chat.getRoom('secret')).to.deep.include({ private: true, owner: 'alice' });
    expect(await chat.isMember('secret', 'bob')).to.equal(true);
    const [message] = await chat.page('room:secret', { limit: 10 });
    expect(message).to.deep.include({ id: inRoom, text: 'hello room', reactions: { '👍': ['bob'] } });
    expect((await chat.page('dm:alice:bob', { limit: 10 })).map((m) => m.id)).to.deep.equal([inDm]);
    for (const stale of [`${p}presence`, `${p}presence:user:id-alice`, `${p}interest:procs`, `${p}socket.io`, `${p}room:secret:stream`, `${p}react:room:secret`]) {
      expect(await client.exists(stale), stale).to.equal(0);
    }
    expect(await client.get(keys.layout)).to.equal('2');

    // Once only: data written under the new layout is not touched by a second start.
    await chat.createRoom({ id: 'later', name: 'Later', private: false, owner: 'bob' });
    await migrateKeyLayout(client, keys, createLogger('silent'));
    expect((await chat.listRooms()).map((r) => r.id).sort()).to.deep.equal(['general', 'later', 'secret']);
  });

  it('marks a fresh Redis as the current layout without moving anything', async () => {
    const p = uniquePrefix();
    prefixes.push(p);
    const keys = redisKeys(p);
    await migrateKeyLayout(client, keys, createLogger('silent'));
    expect(await client.get(keys.layout)).to.equal('2');
  });
});
