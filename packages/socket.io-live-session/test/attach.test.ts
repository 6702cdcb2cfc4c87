import { expect } from 'chai';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Manager } from 'socket.io-client';
import request from 'supertest';
import { BACKENDS, SECRET } from './helpers/app.js';
import { useApps } from './helpers/suite.js';
import { Browser, expectEnded, openSocket, RawPolling, refusal, signedCookie, uniqueUser, waitFor, whoami } from './helpers/client.js';
import { countCalls, MinimalStore } from './helpers/stores.js';
import { needs } from '../../../test/support/services.js';

/** A full GC (v8's `gc`, exposed for this test only). */
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

for (const backend of BACKENDS) {
  describe(`attach: who may open a socket (${backend})`, function () {
    needs(backend);
    const start = useApps(backend);

    for (const transport of ['websocket', 'polling']) {
      it(`connects a logged-in session's socket (${transport}) and hands it the session`, async () => {
        const app = await start();
        const b = new Browser(app.url);
        const name = await b.login();
        const s = await b.connect({ transports: [transport] });
        expect(await whoami(s)).to.deep.equal({ passport: { user: name } });
        expect(app.live.user(app.serverSocket(s))).to.equal(name);
      });
    }

    it('refuses with "unauthorized": no cookie, an anonymous session, a forged cookie, a logged-out cookie', async () => {
      const app = await start();
      expect(await refusal(openSocket(app.url)), 'no cookie').to.equal('unauthorized');

      const anonymous = new Browser(app.url);
      await anonymous.post('/set', { visited: true });
      expect(anonymous.cookie, 'an anonymous session was saved').to.not.equal('');
      expect(await refusal(anonymous.connect()), 'anonymous').to.equal('unauthorized');

      const real = new Browser(app.url);
      await real.login();
      const forged = [
        signedCookie(real.sessionId, 'not-the-secret'), // the right id, a wrong signature
        signedCookie('made-up-session-id', 'not-the-secret'),
        real.cookie.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')), // tampered signature
        `sid=${real.sessionId}`, // unsigned
      ];
      for (const cookie of forged) {
        expect(await refusal(openSocket(app.url, { headers: { cookie } })), `forged ${cookie}`).to.equal('unauthorized');
      }
      // A correctly signed cookie of a session that does not exist is no better.
      expect(await refusal(openSocket(app.url, { headers: { cookie: signedCookie('no-such-session', SECRET) } }))).to.equal('unauthorized');

      const loggedOut = new Browser(app.url);
      await loggedOut.login();
      const oldCookie = loggedOut.cookie;
      expect((await loggedOut.post('/logout')).status).to.equal(204);
      expect(await refusal(openSocket(app.url, { headers: { cookie: oldCookie } })), 'logged-out cookie').to.equal('unauthorized');
      // The real session still connects.
      await real.connect();
    });

    it('checks the session at the Socket.IO CONNECT as it is then, not as the handshake loaded it', async () => {
      const app = await start();
      const b = new Browser(app.url);
      await b.login();
      // Control: handshake, CONNECT, and the socket is in.
      const ok = await RawPolling.open(app.url, { cookie: b.cookie });
      expect(await ok.send('40')).to.equal(200);
      expect((await ok.poll()).packets[0]).to.match(/^40\{"sid":/);

      const raw = await RawPolling.open(app.url, { cookie: b.cookie });
      const destroyed = await b.post('/destroy');
      expect(destroyed.status).to.equal(204);
      expect(await raw.send('40')).to.equal(200);
      expect((await raw.poll()).packets).to.deep.equal(['44{"message":"unauthorized"}']);
    });

    it('runs the handshake middleware in order; one that fails (next(err), a throw, a rejected promise) refuses the handshake and stops the chain', async () => {
      const ran: string[] = [];
      let failWith: 'next' | 'throw' | 'reject' | undefined;
      const app = await start({
        handshake: [
          (_req, _res, next) => {
            ran.push('first');
            if (failWith === 'next') return next(new Error('refused by next(err)'));
            if (failWith === 'throw') throw new Error('refused by a throw');
            next();
          },
          async (_req: never, _res: never, next: (err?: unknown) => void) => {
            ran.push('second');
            await Promise.resolve();
            if (failWith === 'reject') throw new Error('refused by a rejection');
            next();
          },
          (_req, _res, next) => {
            ran.push('third');
            next();
          },
        ],
      });
      const b = new Browser(app.url);
      await b.login();
      await RawPolling.open(app.url, { cookie: b.cookie });
      expect(ran.splice(0), 'all of them, in order').to.deep.equal(['first', 'second', 'third']);
      const expected = { next: ['first'], throw: ['first'], reject: ['first', 'second'] } as const;
      for (const way of ['next', 'throw', 'reject'] as const) {
        failWith = way;
        const res = await request(app.url).get('/socket.io/?EIO=4&transport=polling').set('cookie', b.cookie);
        expect(res.status, way).to.equal(400);
        expect(ran.splice(0), `${way}: the chain stops`).to.deep.equal(expected[way]);
      }
    });

    it('runs the handshake middleware on Engine.IO handshakes only, polls and upgrades excluded', async () => {
      const app = await start({ passportOnHandshake: true });
      const b = new Browser(app.url);
      await b.login();
      const before = { ...app.calls };
      // Long-polling only: every packet is a request of its own.
      const polling = await b.connect({ transports: ['polling'] });
      for (let i = 0; i < 5; i++) expect(await whoami(polling)).to.not.equal(null);
      expect(app.calls.sessionMiddleware - before.sessionMiddleware, 'session middleware, polling').to.equal(1);
      expect(app.calls.deserializeUser - before.deserializeUser, 'passport.session(), polling').to.equal(1);

      // Polling, then the upgrade to a websocket: still one handshake.
      const upgraded = await b.connect({ transports: ['polling', 'websocket'] });
      await new Promise<void>((resolve) => (upgraded.io.engine.transport.name === 'websocket' ? resolve() : upgraded.io.engine.once('upgrade', () => resolve())));
      for (let i = 0; i < 5; i++) expect(await whoami(upgraded)).to.not.equal(null);
      expect(app.calls.sessionMiddleware - before.sessionMiddleware, 'session middleware, with an upgrade').to.equal(2);
      expect(app.calls.deserializeUser - before.deserializeUser, 'passport.session(), with an upgrade').to.equal(2);

      // A raw connection: the handshake ran it, later polls do not.
      const raw = await RawPolling.open(app.url, { cookie: b.cookie });
      expect(await raw.send('40')).to.equal(200);
      await raw.poll();
      expect(await raw.send('421["activity"]')).to.equal(200);
      expect((await raw.poll()).packets).to.deep.equal(['431[true]']);
      expect(app.calls.sessionMiddleware - before.sessionMiddleware, 'session middleware, raw').to.equal(3);
    });

    it("reads the store at a session's first handshake and CONNECT here, not at another socket's handshake; an HTTP request always reads", async () => {
      /** What each handshake's req.session held, as JSON; each then marks its own copy (a nested key). */
      const seen: string[] = [];
      const app = await start({
        handshake: [
          (req: { session: { passport: Record<string, unknown> } }, _res: unknown, next: () => void) => {
            seen.push(JSON.stringify(req.session.passport));
            req.session.passport.markedAtHandshake = true;
            next();
          },
        ] as never,
      });
      const b = new Browser(app.url);
      const user = await b.login();
      const counts = countCalls(app.base);
      const first = await b.connect({ transports: ['websocket'] });
      expect(counts.get, 'the first socket: its handshake and its CONNECT').to.equal(2);

      counts.get = 0;
      const second = await b.connect({ transports: ['websocket'] });
      expect(counts.get, "a second socket: the first one's live view answers both").to.equal(0);
      expect(await whoami(second)).to.deep.equal({ passport: { user } });
      // Each handshake had the session, in a copy of its own: the first one's mark reached neither the view nor the second.
      expect(seen).to.deep.equal([JSON.stringify({ user }), JSON.stringify({ user })]);
      expect(await whoami(first)).to.deep.equal({ passport: { user } });

      // A change from HTTP reaches the view, and the next handshake has it, still without a read.
      await b.post('/set', { theme: 'dark' });
      await waitFor(async () => (await whoami(first))?.theme === 'dark', 'the view to have the change');
      counts.get = 0;
      const third = await b.connect({ transports: ['websocket'] });
      expect(counts.get, 'a third socket').to.equal(0);
      expect(await whoami(third)).to.deep.equal({ passport: { user }, theme: 'dark' });

      // HTTP never takes a view's word: it reads the store.
      expect((await b.me()).user).to.equal(user);
      expect(counts.get, 'an HTTP request').to.equal(1);

      // Once the session's last socket here is gone, the next handshake reads again.
      for (const s of [first, second, third]) s.disconnect();
      await waitFor(() => app.live.size === 0, 'the view to be let go');
      counts.get = 0;
      await b.connect({ transports: ['websocket'] });
      expect(counts.get, 'a socket after the others left').to.equal(2);
    });

    it("reads the store at another socket's handshake while the session's view is being read again", async () => {
      const base = new MinimalStore();
      const app = await start({ base });
      const b = new Browser(app.url);
      const user = await b.login();
      await b.connect({ transports: ['websocket'] });
      const counts = countCalls(base);
      const release = base.holdGets();
      // A change notice (as another process's write sends): the view is read again, and that read is held.
      await app.live.bus.publish({ t: 'session', sid: b.sessionId });
      await waitFor(() => counts.get === 1, 'the re-read to start');
      const opening = b.connect({ transports: ['websocket'] });
      await waitFor(() => counts.get === 2, "the handshake's own read (the view may be about to change)");
      release();
      expect(await whoami(await opening)).to.deep.equal({ passport: { user } });
    });

    it('keeps no per-socket copy of the handshake session (socket.request is let go of it)', async () => {
      const app = await start({ passportOnHandshake: true });
      const b = new Browser(app.url);
      await b.login();
      for (const transport of ['websocket', 'polling']) {
        const s = await b.connect({ transports: [transport] });
        const req = app.serverSocket(s).request as unknown as Record<string, unknown>;
        expect(req.session, `${transport}: session`).to.equal(undefined);
        expect(req.sessionID, `${transport}: sessionID`).to.equal(undefined);
        expect(req.sessionStore, `${transport}: sessionStore`).to.equal(undefined);
        expect(req.user, `${transport}: user`).to.equal(undefined);
        // What the socket reads is the live view.
        expect(app.live.session(app.serverSocket(s))).to.have.nested.property('passport.user');
      }
    });

    it('lets go of the handshake request once the app drops socket.request (the upgrade response keeps no link to it)', async () => {
      const app = await start({ passportOnHandshake: true });
      const b = new Browser(app.url);
      const name = await b.login();
      const s = await b.connect({ transports: ['websocket'] });
      const conn = app.serverSocket(s).conn as unknown as { request: object | null };
      const request = new WeakRef(conn.request!);
      conn.request = null; // what an app that needs nothing of the request after CONNECT may do
      for (let i = 0; i < 3 && request.deref(); i++) {
        await new Promise((resolve) => setImmediate(resolve));
        collectGarbage();
      }
      expect(request.deref(), 'the handshake request, after a full GC').to.equal(undefined);
      expect(await whoami(s)).to.deep.equal({ passport: { user: name } });
    });

    it('guards every namespace, on a connection of its own or multiplexed with others', async () => {
      const app = await start();
      expect(await refusal(openSocket(`${app.url}/admin`)), 'no cookie').to.equal('unauthorized');
      const anonymous = new Browser(app.url);
      await anonymous.post('/set', { visited: true });
      expect(await refusal(openSocket(`${app.url}/admin`, { headers: { cookie: anonymous.cookie } })), 'anonymous').to.equal('unauthorized');

      const b = new Browser(app.url);
      const name = await b.login();
      const admin = await openSocket(`${app.url}/admin`, { headers: { cookie: b.cookie } });
      expect(await whoami(admin)).to.deep.equal({ passport: { user: name } });
      // One Engine.IO connection, two namespaces: both admitted by the one handshake's session.
      const manager = new Manager(app.url, { transports: ['websocket'], reconnection: false, extraHeaders: { cookie: b.cookie } });
      const [main, second] = [manager.socket('/'), manager.socket('/admin')];
      try {
        await Promise.all([main, second].map((s) => new Promise<void>((resolve, reject) => s.once('connect', () => resolve()).once('connect_error', reject))));
        expect(await whoami(second)).to.deep.equal({ passport: { user: name } });
        expect(await whoami(main)).to.deep.equal({ passport: { user: name } });
        const ended: string[] = [];
        second.on('session:ended', (e: { reason: string }) => ended.push(e.reason));
        expect((await b.post('/logout')).status).to.equal(204);
        await expectEnded(admin, 'logout');
        await waitFor(() => ended.includes('logout'), 'the multiplexed namespace to end');
      } finally {
        manager.engine?.close();
      }
    });

    it('guards dynamic namespaces before the app\'s own middleware on them runs', async () => {
      const app = await start();
      expect(await refusal(openSocket(`${app.url}/team-1`)), 'no cookie').to.equal('unauthorized');
      expect(app.dynamicMiddlewareRuns, 'the app middleware saw no refused socket').to.deep.equal([]);
      const b = new Browser(app.url);
      const name = await b.login();
      const team = await openSocket(`${app.url}/team-2`, { headers: { cookie: b.cookie } });
      expect(await whoami(team)).to.deep.equal({ passport: { user: name } });
      expect(app.dynamicMiddlewareRuns).to.deep.equal(['/team-2']);
      expect((await b.post('/logout')).status).to.equal(204);
      await expectEnded(team, 'logout');
    });

    it('leaves Passport\'s user on socket.request for the app\'s own io.use middleware, then lets go of it', async () => {
      const app = await start({ passportOnHandshake: true });
      const b = new Browser(app.url);
      const name = await b.login();
      const s = await b.connect();
      expect(app.handshakeUsers).to.deep.equal([{ id: name }]);
      expect((app.serverSocket(s).request as unknown as { user?: unknown }).user).to.equal(undefined);
    });

    it('lets each of several sessions in with its own user', async () => {
      const app = await start();
      const names = [uniqueUser(), uniqueUser(), uniqueUser()];
      const sockets = await Promise.all(
        names.map(async (name) => {
          const b = new Browser(app.url);
          await b.login(name);
          return b.connect();
        }),
      );
      expect(sockets.map((s) => app.live.user(app.serverSocket(s)))).to.deep.equal(names);
      expect(app.live.size).to.equal(3);
    });
  });
}
