import { expect } from 'chai';
import { sessionHandle, type BusMessage } from '../src/index.js';
import { BACKENDS } from './helpers/app.js';
import { useApps } from './helpers/suite.js';
import { Browser, expectAlive, expectEnded, openSocket, refusal, uniqueUser, waitFor } from './helpers/client.js';
import { needs } from '../../../test/support/services.js';

type Account = { id: string; name: string };

for (const backend of BACKENDS) {
  describe(`the extensions (${backend})`, function () {
    needs(backend);
    const start = useApps(backend);

    const handleOf = async (b: Browser) => ((await b.get('/handle')).body as { handle: string | null }).handle;

    describe('sessionsOf(user) and handle()', () => {
      it('lists a user\'s sessions, oldest first, by handle (never the session id), with dates and data without the cookie', async () => {
        const app = await start();
        const first = new Browser(app.url);
        const user = await first.login();
        await first.post('/set', { device: 'laptop' });
        const second = new Browser(app.url);
        await second.login(user);
        await second.post('/set', { device: 'phone' });
        await new Browser(app.url).login(); // someone else

        const list = await app.live.sessionsOf(user);
        expect(list.map((s) => s.data)).to.deep.equal([
          { passport: { user }, device: 'laptop' },
          { passport: { user }, device: 'phone' },
        ]);
        for (const [i, b] of [first, second].entries()) {
          const info = list[i]!;
          expect(info.handle).to.be.a('string').and.not.equal(b.sessionId);
          expect(info.handle).to.not.include(b.sessionId);
          expect(JSON.stringify(info)).to.not.include(b.sessionId);
          expect(info.handle).to.equal(await handleOf(b));
          expect(info.handle).to.equal(sessionHandle(b.sessionId));
          expect(info.createdAt).to.be.instanceOf(Date);
          expect(info.lastSeenAt).to.be.instanceOf(Date);
          expect(info.lastSeenAt.getTime()).to.be.at.least(info.createdAt.getTime());
          expect(info.data).to.not.have.property('cookie');
          expect(info.data).to.not.have.property('_live');
        }
        expect(list[0]!.createdAt.getTime()).to.be.at.most(list[1]!.createdAt.getTime());
      });

      it('handle(req) is stable across requests, and equals handle(socket) of the session\'s sockets', async () => {
        const app = await start();
        const b = new Browser(app.url);
        await b.login();
        const handle = await handleOf(b);
        expect(await handleOf(b)).to.equal(handle);
        const s = await b.connect();
        expect(app.live.handle(app.serverSocket(s))).to.equal(handle);
      });

      it('lists nothing for an unknown user or none, and forgets ended sessions', async () => {
        const app = await start();
        expect(await app.live.sessionsOf(uniqueUser())).to.deep.equal([]);
        expect(await app.live.sessionsOf(undefined)).to.deep.equal([]);
        expect(await app.live.sessionsOf(null)).to.deep.equal([]);
        const b = new Browser(app.url);
        const user = await b.login();
        expect(await app.live.sessionsOf(user)).to.have.length(1);
        await b.post('/logout');
        expect(await app.live.sessionsOf(user)).to.deep.equal([]);
      });

      it('follows a session whose user changes (listed under the new user only)', async () => {
        const app = await start();
        const b = new Browser(app.url);
        const before = await b.login();
        const after = uniqueUser();
        await b.post('/set', { passport: { user: after } });
        expect(await app.live.sessionsOf(before)).to.deep.equal([]);
        expect((await app.live.sessionsOf(after)).map((s) => s.handle)).to.deep.equal([sessionHandle(b.sessionId)]);
      });
    });

    describe('revoke and revokeUser', () => {
      it('revoke with an unknown handle, another user\'s handle, or no user: false, nothing ends', async () => {
        const app = await start();
        const mine = new Browser(app.url);
        const user = await mine.login();
        const s = await mine.connect();
        const theirs = new Browser(app.url);
        const them = await theirs.login();
        expect(await app.live.revoke(user, 'no-such-handle')).to.equal(false);
        expect(await app.live.revoke(user, mine.sessionId), 'the session id is not a handle').to.equal(false);
        expect(await app.live.revoke(them, (await handleOf(mine))!), 'my handle under their user').to.equal(false);
        expect(await app.live.revoke(undefined, (await handleOf(mine))!)).to.equal(false);
        await expectAlive(s);
        expect((await theirs.me()).user).to.equal(them);
      });

      it('revokeUser(user, {except: req}) keeps the session of that request; {except: handle} too', async () => {
        const app = await start();
        const here = new Browser(app.url);
        const user = await here.login();
        const others = [new Browser(app.url), new Browser(app.url), new Browser(app.url)];
        for (const o of others) await o.login(user);
        const hereSocket = await here.connect();
        const otherSockets = await Promise.all(others.map((o) => o.connect()));

        const res = await here.post('/revoke-others');
        expect(res.body).to.deep.equal({ count: 3 });
        await Promise.all(otherSockets.map((s) => expectEnded(s, 'revoked')));
        await expectAlive(hereSocket);
        expect((await app.live.sessionsOf(user)).map((s) => s.handle)).to.deep.equal([await handleOf(here)]);

        // By handle.
        const again = new Browser(app.url);
        await again.login(user);
        expect(await app.live.revokeUser(user, { except: (await handleOf(here))! })).to.equal(1);
        expect((await again.me()).user).to.equal(null);
        expect((await here.me()).user).to.equal(user);
      });

      it('revokeUser of a user without sessions, or of no user: 0', async () => {
        const app = await start();
        expect(await app.live.revokeUser(uniqueUser())).to.equal(0);
        expect(await app.live.revokeUser(undefined)).to.equal(0);
      });
    });

    describe('the user option', () => {
      it('a function of the session data: who is logged in, listed and revoked by it', async () => {
        const app = await start({ live: { user: (data) => (data as { account?: { id?: string } }).account?.id } });
        const b = new Browser(app.url);
        await b.post('/set', { account: { id: 'acct-1' } }); // no Passport
        const s = await b.connect();
        expect(app.live.user(app.serverSocket(s))).to.equal('acct-1');
        expect((await app.live.sessionsOf('acct-1')).map((x) => x.handle)).to.deep.equal([sessionHandle(b.sessionId)]);
        // Passport's field means nothing here.
        const passportOnly = new Browser(app.url);
        await passportOnly.login();
        expect(await refusal(passportOnly.connect())).to.equal('unauthorized');
        // Another account in the session: the socket was the old account's.
        await b.post('/set', { account: { id: 'acct-2' } });
        await expectEnded(s, 'logout');
        const s2 = await b.connect();
        expect(await app.live.revokeUser('acct-2')).to.equal(1);
        await expectEnded(s2, 'revoked');
      });

      it('a user object with an id: compared and listed by its id; live.user gives the object', async () => {
        const app = await start({ live: { user: (data) => (data as { account?: Account }).account } });
        const b = new Browser(app.url);
        await b.post('/set', { account: { id: 'acct-3', name: 'Ada' } });
        const s = await b.connect();
        expect(app.live.user(app.serverSocket(s))).to.deep.equal({ id: 'acct-3', name: 'Ada' });
        expect(await app.live.sessionsOf({ id: 'acct-3' })).to.have.length(1);
        expect(await app.live.sessionsOf('acct-3')).to.have.length(1);
        // The same id with another name is the same user: the socket stays and sees it.
        await b.post('/set', { account: { id: 'acct-3', name: 'Ada L.' } });
        await waitFor(() => (app.live.user(app.serverSocket(s)) as Account | null)?.name === 'Ada L.', 'the new name');
        await expectAlive(s);
        // An object without an id is nobody.
        const noId = new Browser(app.url);
        await noId.post('/set', { account: { name: 'anonymous' } });
        expect(await refusal(noId.connect())).to.equal('unauthorized');
        expect(await app.live.revoke({ id: 'acct-3' }, sessionHandle(b.sessionId))).to.equal(true);
        await expectEnded(s, 'revoked');
      });
    });

    it('size: how many sessions have sockets on this process', async () => {
      const app = await start();
      expect(app.live.size).to.equal(0);
      const one = new Browser(app.url);
      await one.login();
      const two = new Browser(app.url);
      await two.login();
      const oneSockets = [await one.connect(), await one.connect({ transports: ['polling'] })];
      const twoSocket = await two.connect();
      expect(app.live.size).to.equal(2);
      for (const s of oneSockets) s.close();
      await waitFor(() => app.live.size === 1, 'size 1 once one session has no sockets');
      await two.post('/logout');
      await expectEnded(twoSocket, 'logout');
      await waitFor(() => app.live.size === 0, 'size 0');
      // A refused socket leaves nothing behind.
      expect(await refusal(openSocket(app.url))).to.equal('unauthorized');
      expect(app.live.size).to.equal(0);
    });

    describe("the 'refuse' and 'end' hooks", () => {
      it("refuse: a foreign origin (before any session is read), then CONNECTs without a session or user, with the handle of a stored one", async () => {
        const app = await start();
        const b = new Browser(app.url);
        await b.login();
        expect(await refusal(b.connect({ headers: { origin: 'http://evil.example' } }))).to.not.equal('connected');
        expect(app.refusals).to.deep.equal([{ reason: 'origin', origin: 'http://evil.example', handle: null }]);

        expect(await refusal(openSocket(app.url))).to.equal('unauthorized');
        const anonymous = new Browser(app.url);
        await anonymous.post('/set', { theme: 'dark' }); // a stored session, nobody logged in
        expect(await refusal(anonymous.connect())).to.equal('unauthorized');
        expect(app.refusals.slice(1)).to.deep.equal([
          { reason: 'unauthorized', origin: undefined, handle: null },
          { reason: 'unauthorized', origin: undefined, handle: sessionHandle(anonymous.sessionId) },
        ]);
        await b.connect(); // an admitted socket is not a refusal
        expect(app.refusals).to.have.length(3);
      });

      it('end: once per socket of the session, with its reason, before the socket is told and disconnected', async () => {
        const app = await start();
        const b = new Browser(app.url);
        const user = await b.login();
        const sockets = [await b.connect(), await b.connect({ transports: ['polling'] })];
        const other = new Browser(app.url);
        await other.login(user);
        const otherSocket = await other.connect();
        const ids = sockets.map((s) => s.id); // (a client forgets its id once disconnected)
        const otherId = otherSocket.id;
        await b.post('/logout');
        for (const s of sockets) await expectEnded(s, 'logout');
        expect(app.ends.map((e) => [e.socket.id, e.reason, e.connected])).to.have.deep.members(
          ids.map((id) => [id, 'logout', true]),
        );
        await expectAlive(otherSocket);

        expect(await app.live.revoke(user, sessionHandle(other.sessionId))).to.equal(true);
        await expectEnded(otherSocket, 'revoked');
        expect(app.ends.slice(2).map((e) => [e.socket.id, e.reason])).to.deep.equal([[otherId, 'revoked']]);
      });

      it('a listener that throws breaks neither a refusal nor an end', async () => {
        const app = await start();
        app.live.on('refuse', () => {
          throw new Error('listener bug');
        });
        app.live.on('end', () => {
          throw new Error('listener bug');
        });
        expect(await refusal(openSocket(app.url))).to.equal('unauthorized');
        const b = new Browser(app.url);
        await b.login();
        const s = await b.connect();
        await b.post('/logout');
        await expectEnded(s, 'logout');
        expect(app.refusals.map((r) => r.reason)).to.deep.equal(['unauthorized']);
      });
    });

    it('expiresAt(socket): the idle deadline', async () => {
      const app = await start({ live: { ttlSeconds: 120 } });
      const b = new Browser(app.url);
      await b.login();
      const s = app.serverSocket(await b.connect());
      const left = app.live.expiresAt(s)!.getTime() - Date.now();
      expect(left).to.be.within(60_000, 120_000);
    });

    it('bus: carries the app\'s own messages to every subscriber, the package\'s with t "session"', async () => {
      const app = await start();
      const seen: BusMessage[] = [];
      const unsubscribe = app.live.bus.subscribe((m) => seen.push(m));
      await app.live.bus.publish({ t: 'app:hello', n: 1 });
      await waitFor(() => seen.some((m) => m.t === 'app:hello'), 'the app message');
      const b = new Browser(app.url);
      await b.login();
      await b.connect();
      await b.post('/set', { x: 1 });
      await waitFor(() => seen.some((m) => m.t === 'session'), 'a session message');
      expect(JSON.stringify(seen.filter((m) => m.t === 'session'))).to.not.include('"x"'); // no session data on the bus
      unsubscribe();
    });
  });
}
