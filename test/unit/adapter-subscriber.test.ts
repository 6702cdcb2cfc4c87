import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import { createLogger } from '../../src/logger.js';
import { adapterSubscriber } from '../../src/store/redis/room-adapter.js';
import { createRedisClient, type RedisClient } from '../../src/store/redis/client.js';
import { REDIS_URL, uniquePrefix } from './helpers/redis.js';
import { waitFor } from '../helpers/chat.js';
import { needs } from '../support/services.js';

/*
 * The subscriber the Socket.IO adapter is given: a room's channel unsubscribed
 * (its last socket here left) and subscribed again at once (a socket joined)
 * must end subscribed, and a failure must never be an unhandled rejection.
 */
describe('the adapter\'s subscriber', () => {
  needs('redis');
  const log = createLogger('silent');
  let subscriber: RedisClient;
  let publisher: RedisClient;
  before(async () => {
    subscriber = createRedisClient({ url: REDIS_URL }, log, 'test subscriber', true);
    publisher = createRedisClient({ url: REDIS_URL }, log, 'test publisher');
    await Promise.all([subscriber.connect(), publisher.connect()]);
  });
  after(async () => {
    await Promise.allSettled([subscriber.close(), publisher.close()]);
  });

  /** Whether a message published to `channel` now reaches `got`. */
  async function reaches(channel: string, got: string[]): Promise<boolean> {
    const before = got.length;
    await publisher.sPublish(channel, `ping ${before}`);
    for (let i = 0; i < 20 && got.length === before; i++) await sleep(10);
    return got.length > before;
  }

  it('stays subscribed when a room is left and joined again before the unsubscribe is answered', async () => {
    const subs = adapterSubscriber(subscriber, log);
    const channel = `${uniquePrefix()}socket.io#/#room:r#`;
    const got: string[] = [];
    const listener = (message: Buffer | string) => void got.push(message.toString());
    await subs.sSubscribe(channel, listener, true);
    expect(await reaches(channel, got)).to.equal(true);
    for (let round = 0; round < 5; round++) {
      // As the adapter does it: delete-room, then create-room, in one tick, neither awaited.
      void subs.sUnsubscribe(channel);
      void subs.sSubscribe(channel, listener, true);
      await sleep(20);
      expect(await reaches(channel, got), `round ${round}`).to.equal(true);
    }
    // And a plain leave unsubscribes.
    await subs.sUnsubscribe(channel);
    expect(await reaches(channel, got)).to.equal(false);
  });

  /** `INFO commandstats` calls of SSUBSCRIBE and SUNSUBSCRIBE so far. */
  async function subscriptionCommands() {
    const info = await publisher.info('commandstats');
    const calls = (name: string) => Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(info)?.[1] ?? 0);
    return { ssubscribe: calls('ssubscribe'), sunsubscribe: calls('sunsubscribe') };
  }

  it('keeps a lingering room subscribed after its last socket left: joined again meanwhile, it costs Redis nothing', async () => {
    const lingerMs = 400;
    const subs = adapterSubscriber(subscriber, log, undefined, (ch) => (ch.includes('#user:') ? lingerMs : 0));
    const channel = `${uniquePrefix()}socket.io#/#user:u1#`;
    const got: string[] = [];
    const listener = (message: Buffer | string) => void got.push(message.toString());
    await subs.sSubscribe(channel, listener, true);
    const before = await subscriptionCommands();
    // Left, then joined again (a reconnect) within the linger: no command either way, and it never stopped receiving.
    await subs.sUnsubscribe(channel);
    expect(await reaches(channel, got), 'while lingering').to.equal(true);
    await subs.sSubscribe(channel, listener, true);
    // A hold of the channel (room-channels.ts subscribes a listener of its own) finds it subscribed too.
    const holder = () => undefined;
    await subscriber.sSubscribe(channel, holder);
    await subscriber.sUnsubscribe(channel, holder);
    expect(await subscriptionCommands(), 'no command while it lingered').to.deep.equal(before);
    expect(await reaches(channel, got), 'joined again').to.equal(true);
    // Left for good: unsubscribed once the linger is over.
    await subs.sUnsubscribe(channel);
    await waitFor(async () => (await subscriptionCommands()).sunsubscribe > before.sunsubscribe, 'the unsubscribe after the linger');
    expect(await reaches(channel, got), 'after the linger').to.equal(false);
    expect((await subscriptionCommands()).sunsubscribe - before.sunsubscribe).to.equal(1);
    // A room without linger leaves at once.
    const room = `${uniquePrefix()}socket.io#/#room:r#`;
    await subs.sSubscribe(room, listener, true);
    await subs.sUnsubscribe(room);
    expect(await reaches(room, got), 'a chat room').to.equal(false);
  });

  it('handles failures, rejected or thrown, instead of leaving them unhandled', async () => {
    // As a cluster client fails at shutdown or in a failover: one rejects, the other throws.
    const failing = {
      isOpen: true,
      sSubscribe: () => Promise.reject(new Error('the client is closed')),
      sUnsubscribe: () => {
        throw new Error('the client is closed');
      },
    } as unknown as RedisClient;
    const subs = adapterSubscriber(failing, log);
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      void subs.sSubscribe('x', () => undefined, true);
      void subs.sUnsubscribe('x');
      await sleep(20);
      expect(unhandled).to.deep.equal([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
