import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import type { Socket as ClientSocket } from 'socket.io-client';
import { BACKENDS, type TestApp } from './helpers/app.js';
import { useApps } from './helpers/suite.js';
import { assign, Browser, expectAlive, expectEnded, keepBusy, rejection, recordOf, uniqueUser, unset, waitFor, whoami } from './helpers/client.js';
import { baseGet } from './helpers/stores.js';
import { needs } from '../../../test/support/services.js';

for (const backend of BACKENDS) {
  describe(`how a session ends for its sockets (${backend})`, function () {
    needs(backend);
    const start = useApps(backend);

    /** A browser logged in as `user` with a websocket and a polling socket. */
    async function browser(app: TestApp, user = uniqueUser()) {
      const b = new Browser(app.url);
      await b.login(user);
      const sockets = [await b.connect({ transports: ['websocket'] }), await b.connect({ transports: ['polling'] })];
      return { b, user, sockets };
    }

    describe('logout', () => {
      for (const [route, what] of [
        ['/destroy', 'req.session.destroy()'],
        ['/regenerate', 'req.session.regenerate()'],
        ['/logout', 'Passport\'s req.logout()'],
      ] as const) {
        it(`${what}: every socket of the session gets {reason: "logout"} and is disconnected; other sessions are untouched`, async () => {
          const app = await start();
          const mine = await browser(app);
          const sameUserElsewhere = await browser(app, mine.user);
          const someoneElse = await browser(app);
          expect((await mine.b.post(route)).status).to.equal(204);
          await Promise.all(mine.sockets.map((s) => expectEnded(s, 'logout')));
          for (const s of [...sameUserElsewhere.sockets, ...someoneElse.sockets]) await expectAlive(s);
          expect((await mine.b.me()).user).to.equal(null);
        });
      }
    });

    describe('the user changing or leaving without a destroy', () => {
      it('another user written into the session over HTTP: {reason: "logout"}', async () => {
        const app = await start();
        const mine = await browser(app);
        await mine.b.post('/set', { passport: { user: uniqueUser('intruder') } });
        await Promise.all(mine.sockets.map((s) => expectEnded(s, 'logout')));
      });

      it('the user removed from the session over HTTP: {reason: "logout"}, and the rest of the session stays', async () => {
        const app = await start();
        const mine = await browser(app);
        await mine.b.post('/set', { theme: 'dark' });
        await mine.b.post('/set', { passport: null });
        await Promise.all(mine.sockets.map((s) => expectEnded(s, 'logout')));
        expect(await mine.b.me()).to.deep.equal({ user: null, data: { theme: 'dark' } });
      });

      it('the user removed by a socket update: {reason: "logout"} for every socket, the update rejects', async () => {
        const app = await start();
        const mine = await browser(app);
        const err = await rejection(app.live.update(app.serverSocket(mine.sockets[0]!), unset('passport')));
        expect(err?.name).to.equal('SessionEndedError');
        await Promise.all(mine.sockets.map((s) => expectEnded(s, 'logout')));
      });
    });

    describe('revocation', () => {
      it('revokeUser(user): every session of the user, {reason: "revoked"}; others untouched', async () => {
        const app = await start();
        const one = await browser(app);
        const two = await browser(app, one.user);
        const other = await browser(app);
        expect(await app.live.revokeUser(one.user)).to.equal(2);
        await Promise.all([...one.sockets, ...two.sockets].map((s) => expectEnded(s, 'revoked')));
        for (const s of other.sockets) await expectAlive(s);
        expect((await one.b.me()).user).to.equal(null);
        expect((await two.b.me()).user).to.equal(null);
      });

      it('revoke(user, handle): that session only', async () => {
        const app = await start();
        const one = await browser(app);
        const two = await browser(app, one.user);
        const handle = ((await two.b.get('/handle')).body as { handle: string }).handle;
        expect(await app.live.revoke(one.user, handle)).to.equal(true);
        await Promise.all(two.sockets.map((s) => expectEnded(s, 'revoked')));
        for (const s of one.sockets) await expectAlive(s);
        expect((await two.b.me()).user).to.equal(null);
        expect((await one.b.me()).user).to.equal(one.user);
      });
    });

    describe('the idle deadline', () => {
      it('ends idle sockets with {reason: "expired"}, and HTTP no longer loads the session', async () => {
        const app = await start({ live: { ttlSeconds: 1 } });
        const mine = await browser(app);
        const sid = mine.b.sessionId;
        await Promise.all(mine.sockets.map((s) => expectEnded(s, 'expired', 10_000)));
        expect(await mine.b.me()).to.deep.equal({ user: null, data: {} });
        expect(await baseGet(app.base, sid)).to.equal(null);
      });

      it('applies to HTTP on its own: a session past its deadline is not loaded (a new empty session)', async () => {
        const app = await start({ live: { ttlSeconds: 1 } });
        const b = new Browser(app.url);
        const user = await b.login();
        await b.post('/set', { theme: 'dark' });
        await sleep(1500);
        expect(await b.me()).to.deep.equal({ user: null, data: {} });
        expect(await app.live.sessionsOf(user)).to.deep.equal([]);
      });

      it('HTTP requests are activity: they keep the session alive past its lifetime', async () => {
        const app = await start({ live: { ttlSeconds: 1 } });
        const b = new Browser(app.url);
        const user = await b.login();
        for (const until = Date.now() + 3000; Date.now() < until; await sleep(150)) expect((await b.me()).user).to.equal(user);
      });

      it('socket events are activity (throttled): an active socket outlives the lifetime, then idles out', async () => {
        const app = await start({ live: { ttlSeconds: 2 } });
        const mine = await browser(app);
        const [ws, polling] = mine.sockets as [ClientSocket, ClientSocket];
        const firstDeadline = app.live.expiresAt(app.serverSocket(ws))!.getTime();
        await Promise.all([keepBusy(ws, 5000), keepBusy(polling, 5000)]);
        await expectAlive(ws);
        await expectAlive(polling);
        expect(app.live.expiresAt(app.serverSocket(ws))!.getTime()).to.be.greaterThan(firstDeadline);
        expect((await mine.b.me()).user, 'HTTP sees the extended session').to.equal(mine.user);
        // Idle from now on.
        await Promise.all(mine.sockets.map((s) => expectEnded(s, 'expired', 10_000)));
      });

      it('HTTP activity keeps the session\'s idle sockets alive too', async () => {
        const app = await start({ live: { ttlSeconds: 2 } });
        const mine = await browser(app);
        for (const until = Date.now() + 4500; Date.now() < until; await sleep(200)) expect((await mine.b.me()).user).to.equal(mine.user);
        for (const s of mine.sockets) await expectAlive(s);
      });

      it('activity on one socket keeps the session\'s other (idle) sockets alive too', async () => {
        const app = await start({ live: { ttlSeconds: 2 } });
        const mine = await browser(app);
        const [busy, idle] = mine.sockets as [ClientSocket, ClientSocket];
        await keepBusy(busy, 4500);
        expect(recordOf(idle).ended).to.deep.equal([]);
        await expectAlive(idle);
      });

      it('anonymousTtlSeconds: a session without a user idles out sooner than a logged-in one', async () => {
        const app = await start({ live: { ttlSeconds: 60, anonymousTtlSeconds: 1 } });
        const anonymous = new Browser(app.url);
        await anonymous.post('/set', { csrf: 'token' });
        expect((await anonymous.me()).data).to.deep.equal({ csrf: 'token' });
        const mine = await browser(app);
        await sleep(1500);
        expect((await anonymous.me()).data, 'the anonymous session').to.deep.equal({});
        expect((await mine.b.me()).user, 'the logged-in session').to.equal(mine.user);
        for (const s of mine.sockets) await expectAlive(s);
      });

      it('the deadline of a logged-in session is ttlSeconds, not anonymousTtlSeconds (expiresAt)', async () => {
        const app = await start({ live: { ttlSeconds: 60, anonymousTtlSeconds: 1 } });
        const mine = await browser(app);
        const left = app.live.expiresAt(app.serverSocket(mine.sockets[0]!))!.getTime() - Date.now();
        expect(left).to.be.within(30_000, 60_000);
      });
    });

    describe('a record the store dropped on its own', () => {
      it('deleted behind the package\'s back: its sockets end with {reason: "expired"} at the deadline', async () => {
        const app = await start({ live: { ttlSeconds: 2 } });
        const mine = await browser(app);
        await app.dropRecord(mine.b.sessionId);
        await Promise.all(mine.sockets.map((s) => expectEnded(s, 'expired', 10_000)));
      });

      it('activity does not bring a dropped record back or keep its sockets alive', async () => {
        const app = await start({ live: { ttlSeconds: 2 } });
        const mine = await browser(app);
        const sid = mine.b.sessionId;
        await app.dropRecord(sid);
        const [ws] = mine.sockets as [ClientSocket];
        // Keep sending events until the server ends the socket.
        while (ws.connected) {
          await ws.timeout(1000).emitWithAck('activity').catch(() => undefined);
          await sleep(150);
        }
        await Promise.all(mine.sockets.map((s) => expectEnded(s, 'expired', 10_000)));
        expect(await baseGet(app.base, sid)).to.equal(null);
      });

      it('found missing by a socket update before the deadline: the update rejects, the sockets end with {reason: "expired"}', async () => {
        // A store may drop a record before the package's deadline (Redis evicting
        // keys under maxmemory, a store TTL set shorter): nothing destroyed it, so
        // it is not a logout.
        const app = await start({ live: { ttlSeconds: 60 } });
        const mine = await browser(app);
        await app.dropRecord(mine.b.sessionId);
        const err = await rejection(app.live.update(app.serverSocket(mine.sockets[0]!), assign({ x: 1 })));
        expect(err?.name).to.equal('SessionEndedError');
        await Promise.all(mine.sockets.map((s) => expectEnded(s, 'expired')));
        expect(await baseGet(app.base, mine.b.sessionId)).to.equal(null);
      });

      if (backend === 'redis') {
        it('expired by Redis (a store TTL shorter than the lifetime): {reason: "expired"}', async () => {
          const app = await start({ live: { ttlSeconds: 3 }, storeTtlSeconds: 1 });
          const mine = await browser(app);
          const sid = mine.b.sessionId;
          await waitFor(async () => (await app.redis!.exists(`${app.prefix}sess:${sid}`)) === 0, 'Redis to expire the key', 5000);
          await Promise.all(mine.sockets.map((s) => expectEnded(s, 'expired', 10_000)));
        });
      }
    });

    if (backend === 'memory') {
      // Deterministic on one process only (the memory lock serves waiters in order).
      it('a revocation racing a socket update: the sockets still get {reason: "revoked"}', async () => {
        const app = await start();
        const mine = await browser(app);
        const socket = app.serverSocket(mine.sockets[0]!);
        let release!: () => void;
        const gate = new Promise<void>((resolve) => (release = resolve));
        let entered!: () => void;
        const inside = new Promise<void>((resolve) => (entered = resolve));
        // 1. An update holds the session's lock; 2. the revocation waits for it;
        // 3. a second update waits behind the revocation.
        const first = app.live.update(socket, async () => {
          entered();
          await gate;
          return false;
        });
        await inside;
        const revoking = app.live.revokeUser(mine.user);
        await sleep(100); // the revocation has listed the session and is waiting for its lock
        const second = app.live.update(socket, assign({ x: 1 })).catch((e: Error) => e);
        release();
        await first;
        expect(await revoking).to.equal(1);
        expect(await second).to.be.instanceOf(Error);
        await Promise.all(mine.sockets.map((s) => expectEnded(s, 'revoked')));
      });
    }

    it('whatever ends one session leaves another session of the app working', async () => {
      const app = await start({ live: { ttlSeconds: 30 } });
      const survivor = await browser(app);
      const a = await browser(app);
      const b = await browser(app);
      const c = await browser(app);
      await a.b.post('/logout');
      await app.live.revokeUser(b.user);
      await c.b.post('/set', { passport: null });
      await Promise.all([...a.sockets.map((s) => expectEnded(s, 'logout')), ...b.sockets.map((s) => expectEnded(s, 'revoked')), ...c.sockets.map((s) => expectEnded(s, 'logout'))]);
      for (const s of survivor.sockets) expect(await whoami(s)).to.deep.equal({ passport: { user: survivor.user } });
    });
  });
}
