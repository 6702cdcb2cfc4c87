import { createServer } from 'node:http';
import { expect } from 'chai';
import session, { MemoryStore } from 'express-session';
import { Server } from 'socket.io';
import { isOrigin, liveSession, memoryBus, redisBus, type LiveSessionOptions, type RedisBusOptions } from '../src/index.js';

/** Asserts that `fn` throws a TypeError whose message names `option`. */
function throwsNaming(fn: () => unknown, option: string, what: string) {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown, `${what}: throws`).to.be.instanceOf(TypeError);
  expect((thrown as TypeError).message, `${what}: names the option`).to.include(option);
}

const store = () => new MemoryStore();
const withOptions = (extra: Record<string, unknown>) => () => liveSession({ store: store(), ...extra } as LiveSessionOptions);

describe('option errors at construction', () => {
  it('no options object at all', () => {
    throwsNaming(() => liveSession(undefined as unknown as LiveSessionOptions), 'options', 'undefined');
  });

  it('store: missing, or not a Store (get, set and destroy)', () => {
    throwsNaming(() => liveSession({} as LiveSessionOptions), 'store', 'missing');
    throwsNaming(withOptions({ store: null }), 'store', 'null');
    throwsNaming(withOptions({ store: { get() {}, set() {} } }), 'store', 'no destroy');
    throwsNaming(withOptions({ store: { get() {}, destroy() {} } }), 'store', 'no set');
    throwsNaming(withOptions({ store: { set() {}, destroy() {} } }), 'store', 'no get');
    throwsNaming(withOptions({ store: { get: 1, set() {}, destroy() {} } }), 'store', 'get not a function');
  });

  for (const name of ['ttlSeconds', 'anonymousTtlSeconds', 'touchEverySeconds']) {
    it(`${name}: not a positive number of seconds`, () => {
      for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, '10', null, {}]) {
        throwsNaming(withOptions({ [name]: bad }), name, `${name}: ${String(bad)}`);
      }
      // Fractions and the absence of the option are fine.
      withOptions({ [name]: 0.5 })();
      withOptions({ [name]: undefined })();
    });
  }

  it('user: not a function', () => {
    for (const bad of ['passport.user', 42, { id: 1 }, null]) throwsNaming(withOptions({ user: bad }), 'user', `user: ${String(bad)}`);
  });

  it('bus: not a bus', () => {
    const { lock: _lock, ...noLock } = memoryBus();
    for (const bad of [{}, { publish() {} }, noLock, 'redis']) throwsNaming(withOptions({ bus: bad }), 'bus', `bus: ${JSON.stringify(bad)}`);
    withOptions({ bus: memoryBus() })();
  });

  it('bus: null (as in `bus: redis ? redisBus(...) : null`) is either the default bus or an error naming the option', () => {
    let live: ReturnType<typeof liveSession> | undefined;
    try {
      live = withOptions({ bus: null })();
    } catch (err) {
      expect((err as Error).message, 'names the option').to.include('bus');
    }
    live?.close();
  });

  it('origins: not an array, or an entry that is not an origin', () => {
    throwsNaming(withOptions({ origins: 'https://a.com' }), 'origins', 'a string');
    throwsNaming(withOptions({ origins: new Set(['https://a.com']) }), 'origins', 'a Set');
    for (const bad of ['https://a.com/path', 'https://a.com/', 'a.com', 'null', '*', 'ftp://a.com', 'https://a.com?x=1', 42, '']) {
      throwsNaming(withOptions({ origins: ['https://ok.example', bad] }), 'origins', `origin ${JSON.stringify(bad)}`);
      expect(isOrigin(bad), `isOrigin(${JSON.stringify(bad)})`).to.equal(false);
    }
    const good = ['https://a.com', 'http://localhost:3000', 'https://sub.a.com:8443', 'http://127.0.0.1:8080'];
    withOptions({ origins: good })();
    for (const origin of good) expect(isOrigin(origin), origin).to.equal(true);
  });

  describe('attach', () => {
    const servers: Server[] = [];
    after(async () => {
      await Promise.all(servers.map((io) => new Promise<void>((resolve) => io.close(() => resolve()))));
    });
    const newIo = () => {
      const io = new Server(createServer());
      servers.push(io);
      return io;
    };
    const middleware = session({ secret: 'x', resave: false, saveUninitialized: false });

    it('twice on one server', () => {
      const live = liveSession({ store: store() });
      const io = newIo();
      live.attach(io, middleware);
      throwsNaming(() => live.attach(io, middleware), 'attach', 'the second attach');
      live.close();
    });

    it('on a Server not bound to an HTTP server yet (new Server(), io.attach(server) later): an error naming attach', () => {
      const live = liveSession({ store: store() });
      const io = new Server(); // no engine and no HTTP server: nothing to close
      throwsNaming(() => live.attach(io, middleware), 'attach', 'an unbound server');
      live.close();
    });

    it('without the session middleware, or with one that is not a function', () => {
      const live = liveSession({ store: store() });
      throwsNaming(() => live.attach(newIo()), 'attach', 'no middleware');
      throwsNaming(() => live.attach(newIo(), middleware, 'passport' as never), 'attach', 'a string');
      live.close();
    });
  });

  describe('redisBus', () => {
    const fakeClient = {
      set: async () => 'OK',
      eval: async () => 1,
      sAdd: async () => 1,
      sRem: async () => 1,
      sMembers: async () => [],
      sPublish: async () => 1,
    };
    const fakeSubscriber = { sSubscribe: async () => undefined, on: () => undefined };
    const bus = (o: unknown) => () => redisBus(o as RedisBusOptions);

    it('without options, client or subscriber', () => {
      throwsNaming(bus(undefined), 'client', 'no options');
      throwsNaming(bus({ subscriber: fakeSubscriber }), 'client', 'no client');
      throwsNaming(bus({ client: fakeClient }), 'subscriber', 'no subscriber');
    });

    it('with a client or subscriber lacking the methods it uses', () => {
      const { sPublish: _p, ...noPublish } = fakeClient;
      const { set: _s, ...noSet } = fakeClient;
      throwsNaming(bus({ client: noPublish, subscriber: fakeSubscriber }), 'client', 'no sPublish');
      throwsNaming(bus({ client: noSet, subscriber: fakeSubscriber }), 'client', 'no set');
      throwsNaming(bus({ client: fakeClient, subscriber: { on() {} } }), 'subscriber', 'no sSubscribe');
      throwsNaming(bus({ client: fakeClient, subscriber: { sSubscribe: async () => undefined } }), 'subscriber', 'no on');
      throwsNaming(bus({ client: fakeClient, subscriber: fakeSubscriber, prefix: 42 }), 'prefix', 'a numeric prefix');
      for (const lockWaitMs of [0, -5, Number.NaN, Infinity, '3000']) {
        throwsNaming(bus({ client: fakeClient, subscriber: fakeSubscriber, lockWaitMs }), 'lockWaitMs', `lockWaitMs ${String(lockWaitMs)}`);
      }
      // The same shapes, complete, make a bus.
      const ok = redisBus({ client: fakeClient, subscriber: fakeSubscriber } as unknown as RedisBusOptions);
      expect(ok.lock.withLock).to.be.a('function');
    });

    it('a cut-off bus probes until it hears back, and stops once the app closed its clients', async () => {
      let probes = 0;
      const client = { ...fakeClient, isOpen: true, sPublish: async () => (probes++, 1) };
      const handlers: Record<string, () => void> = {};
      const subscriber = { sSubscribe: async () => undefined, on: (event: string, fn: () => void) => (handlers[event] = fn), isOpen: true };
      const cut = redisBus({ client, subscriber } as unknown as RedisBusOptions);
      let cutOffs = 0;
      cut.onCutOff(() => cutOffs++);
      handlers.error!();
      expect(cutOffs).to.equal(1);
      while (probes < 2) await new Promise((resolve) => setTimeout(resolve, 50));
      // Shutdown: the app closes its clients while Redis is still away.
      client.isOpen = false;
      const atClose = probes;
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(probes - atClose, 'probes after the clients were closed').to.be.at.most(1);
    });

    it('lockWaitMs bounds the wait for a write lock held elsewhere', async () => {
      let attempts = 0;
      const heldElsewhere = { ...fakeClient, set: async () => (attempts++, null) };
      const quick = redisBus({ client: heldElsewhere, subscriber: fakeSubscriber, lockWaitMs: 40 } as unknown as RedisBusOptions);
      let ran = false;
      const err = await quick.lock.withLock('sid', async () => (ran = true)).catch((e: unknown) => e as Error);
      expect(err, 'a busy lock fails').to.be.instanceOf(Error);
      expect((err as Error).message).to.include('busy').and.include('40 ms');
      expect(ran, 'the write never ran').to.equal(false);
      expect(attempts, 'it retried before giving up').to.be.greaterThan(1);
    });
  });
});
