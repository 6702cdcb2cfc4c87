import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import type { Socket as ServerSocket } from 'socket.io';
import { SessionEndedError } from '../src/index.js';
import { BACKENDS, type TestApp } from './helpers/app.js';
import { useApps } from './helpers/suite.js';
import { assign, Browser, expectAlive, expectEnded, rejection, unset, waitFor, whoami, type Fields } from './helpers/client.js';
import { baseGet, countCalls } from './helpers/stores.js';
import { needs } from '../../../test/support/services.js';

type Draft = Fields;
const set = assign;

for (const backend of BACKENDS) {
  describe(`live.session and live.update (${backend})`, function () {
    needs(backend);
    const start = useApps(backend);

    /** A logged-in browser with `n` sockets, and their server sides. */
    async function loggedIn(app: TestApp, n = 1) {
      const b = new Browser(app.url);
      const user = await b.login();
      const clients = [];
      for (let i = 0; i < n; i++) clients.push(await b.connect({ transports: [i % 2 ? 'polling' : 'websocket'] }));
      return { b, user, clients, servers: clients.map((c) => app.serverSocket(c)) };
    }

    describe('live.session(socket)', () => {
      it('is the session data now: a frozen copy without the cookie', async () => {
        const app = await start();
        const { b, user, servers } = await loggedIn(app);
        await b.post('/set', { prefs: { theme: 'dark', tags: ['a'] }, lastRoom: 'lobby' });
        const snap = await waitFor(() => (app.view(servers[0]!)?.lastRoom ? app.view(servers[0]!) : null), 'the change');
        expect(snap).to.deep.equal({ passport: { user }, prefs: { theme: 'dark', tags: ['a'] }, lastRoom: 'lobby' });
        expect(snap).to.not.have.property('cookie');
        expect(snap).to.not.have.property('_live');
        expect(Object.isFrozen(snap)).to.equal(true);
        const mutable = snap as unknown as { prefs: { theme: string; tags: string[] }; lastRoom?: string; extra?: number };
        // ES modules are strict: writing to a frozen object throws.
        expect(() => (mutable.lastRoom = 'x')).to.throw(TypeError);
        expect(() => (mutable.extra = 1)).to.throw(TypeError);
        expect(() => delete mutable.lastRoom).to.throw(TypeError);
        expect(() => (mutable.prefs.theme = 'light')).to.throw(TypeError);
        expect(() => mutable.prefs.tags.push('b')).to.throw(TypeError);
        expect(app.view(servers[0]!)).to.deep.equal({ passport: { user }, prefs: { theme: 'dark', tags: ['a'] }, lastRoom: 'lobby' });
        expect((await b.me()).data).to.deep.equal({ passport: { user }, prefs: { theme: 'dark', tags: ['a'] }, lastRoom: 'lobby' });
      });

      it('makes no store round trip (20 reads, 0 base store gets)', async () => {
        const app = await start();
        const { servers } = await loggedIn(app, 2);
        const counts = countCalls(app.base);
        for (let i = 0; i < 20; i++) {
          for (const s of servers) expect(app.view(s)).to.have.nested.property('passport.user');
          app.live.user(servers[0]!);
          app.live.expiresAt(servers[0]!);
        }
        expect(counts.get).to.equal(0);
        expect(counts.set).to.equal(0);
      });

      it('is null once the session ended (and user and expiresAt too)', async () => {
        const app = await start();
        const { b, clients, servers } = await loggedIn(app);
        expect(app.live.expiresAt(servers[0]!)).to.be.instanceOf(Date);
        await b.post('/logout');
        await expectEnded(clients[0]!, 'logout');
        expect(app.view(servers[0]!)).to.equal(null);
        expect(app.live.user(servers[0]!)).to.equal(null);
        expect(app.live.expiresAt(servers[0]!)).to.equal(null);
        // A socket the package never admitted has none either.
        const stranger = {} as ServerSocket;
        expect(app.live.session(stranger)).to.equal(null);
        expect(app.live.user(stranger)).to.equal(null);
        expect(app.live.handle(stranger)).to.equal(null);
      });
    });

    describe('changes reach open sockets without a reconnect', () => {
      it('an HTTP request that changes req.session: live.session and the change hook, once per socket of that session', async () => {
        const app = await start();
        const { b, servers } = await loggedIn(app, 2);
        const other = await loggedIn(app);
        await b.post('/set', { theme: 'dark' });
        for (const s of servers) await waitFor(() => app.view(s)?.theme === 'dark', 'the change on each socket');
        await waitFor(() => app.changes.length >= 2, 'two change hooks');
        await sleep(100); // nothing more may come
        expect(app.changes.map((c) => c.socket)).to.have.members(servers);
        expect(app.changes.map((c) => (c.session as Fields).theme)).to.deep.equal(['dark', 'dark']);
        expect(app.view(other.servers[0]!)).to.not.have.property('theme');
        // The client sees it too.
        expect(await whoami(other.clients[0]!)).to.not.have.property('theme');
      });

      it('activity alone (a throttled touch) moves the deadline but is no change: no change hook', async () => {
        const app = await start({ live: { ttlSeconds: 2 } });
        const { clients, servers } = await loggedIn(app);
        const deadline = app.live.expiresAt(servers[0]!)!.getTime();
        for (let i = 0; i < 8; i++) {
          await clients[0]!.timeout(5000).emitWithAck('activity');
          await sleep(250);
        }
        await waitFor(() => app.live.expiresAt(servers[0]!)!.getTime() > deadline, 'the deadline to move');
        expect(app.changes.map((c) => c.session), 'change hooks for unchanged data').to.deep.equal([]);
        // What moved is told by the extend hook, with the new deadline.
        await waitFor(() => app.extends.length > 0, 'an extend hook');
        expect(app.extends.every((e) => e.socket === servers[0]), 'for this socket').to.equal(true);
        expect(app.extends.at(-1)!.expiresAt.getTime()).to.equal(app.live.expiresAt(servers[0]!)!.getTime());
      });

      it('a deletion over HTTP', async () => {
        const app = await start();
        const { b, servers } = await loggedIn(app);
        await b.post('/set', { theme: 'dark' });
        await waitFor(() => app.view(servers[0]!)?.theme === 'dark', 'the set');
        await b.post('/set', { theme: null });
        await waitFor(() => app.view(servers[0]!) && !('theme' in app.view(servers[0]!)!), 'the deletion');
      });

      it('a write from another socket of the session (live.update)', async () => {
        const app = await start();
        const { servers } = await loggedIn(app, 2);
        const [one, two] = servers as [ServerSocket, ServerSocket];
        const written = await app.live.update(two, set({ lastRoom: 'kitchen' }));
        expect((written as Fields).lastRoom).to.equal('kitchen');
        await waitFor(() => app.view(one)?.lastRoom === 'kitchen', 'the write on the other socket');
        await waitFor(() => app.changes.some((c) => c.socket === one && (c.session as Fields).lastRoom === 'kitchen'), 'the hook for the other socket');
      });
    });

    describe('live.update(socket, fn)', () => {
      it('writes the session, for HTTP too', async () => {
        const app = await start();
        const { b, user, servers } = await loggedIn(app);
        const snap = await app.live.update(servers[0]!, set({ lastRoom: 'x' }));
        expect(snap).to.deep.equal({ passport: { user }, lastRoom: 'x' });
        expect(Object.isFrozen(snap)).to.equal(true);
        expect(app.view(servers[0]!)).to.deep.equal({ passport: { user }, lastRoom: 'x' });
        expect((await b.me()).data).to.deep.equal({ passport: { user }, lastRoom: 'x' });
      });

      it('takes an async function', async () => {
        const app = await start();
        const { b, servers } = await loggedIn(app);
        await app.live.update(servers[0]!, async (draft: object) => {
          await sleep(30);
          (draft as Draft).later = true;
        });
        expect((await b.me()).data.later).to.equal(true);
      });

      it('writes nothing when the function returns false (its draft changes are dropped)', async () => {
        const app = await start();
        const { b, servers } = await loggedIn(app);
        const before = await baseGet(app.base, b.sessionId);
        const counts = countCalls(app.base);
        const snap = await app.live.update(servers[0]!, (draft: object) => {
          (draft as Draft).discarded = true;
          return false;
        });
        expect(snap).to.not.have.property('discarded');
        expect(counts.set).to.equal(0);
        const after = await baseGet(app.base, b.sessionId);
        expect(after?._live?.v).to.equal(before?._live?.v);
        expect((await b.me()).data).to.not.have.property('discarded');
      });

      it('rejects with the function\'s own error when it throws, and writes nothing', async () => {
        const app = await start();
        const { b, servers } = await loggedIn(app);
        const counts = countCalls(app.base);
        const err = await rejection(
          app.live.update(servers[0]!, async (draft: object) => {
            (draft as Draft).half = true;
            throw new Error('the app changed its mind');
          }),
        );
        expect(err?.message).to.equal('the app changed its mind');
        expect(counts.set).to.equal(0);
        expect((await b.me()).data).to.not.have.property('half');
        await app.live.update(servers[0]!, set({ after: true })); // the session's lock was let go
        expect((await b.me()).data.after).to.equal(true);
      });

      it('rejects with SessionEndedError once the session ended, and writes nothing', async () => {
        const app = await start();
        const { b, clients, servers } = await loggedIn(app);
        await b.post('/destroy');
        await expectEnded(clients[0]!, 'logout');
        const err = await rejection(app.live.update(servers[0]!, set({ late: true })));
        expect(err).to.be.instanceOf(SessionEndedError);
        expect((err as SessionEndedError).reason).to.equal('logout');
        expect(await baseGet(app.base, b.sessionId)).to.equal(null);
      });

      it('an update racing a logout: the logout waits for it, ends the session, and later updates reject', async () => {
        const app = await start();
        const { b, servers } = await loggedIn(app);
        const sid = b.sessionId;
        let entered!: () => void;
        const inside = new Promise<void>((resolve) => (entered = resolve));
        let release!: () => void;
        const gate = new Promise<void>((resolve) => (release = resolve));
        // The update holds the session's lock: the logout waits for it, then ends the session.
        const updating = app.live.update(servers[0]!, async (draft: object) => {
          entered();
          await gate;
          (draft as Draft).during = true;
        });
        await inside;
        const logout = b.post('/logout');
        await sleep(50);
        release();
        await updating.catch(() => undefined);
        expect((await logout).status).to.equal(204);
        expect(await baseGet(app.base, sid)).to.equal(null);
        const again = await rejection(app.live.update(servers[0]!, set({ again: true })));
        expect(again).to.be.instanceOf(SessionEndedError);
        expect(await baseGet(app.base, sid)).to.equal(null);
      });
    });

    describe('HTTP saves and socket updates never lose each other\'s writes', () => {
      it('50 rounds of an HTTP write of one key racing a socket update of another, deletions included', async () => {
        const app = await start();
        const { b, user, servers } = await loggedIn(app);
        for (let i = 0; i < 50; i++) {
          const odd = i % 2 === 1;
          const [res] = await Promise.all([
            b.post('/set', { a: i, h: odd ? null : i }),
            app.live.update(servers[0]!, (draft: object) => {
              const d = draft as Draft;
              d.b = i;
              if (odd) delete d.s;
              else d.s = i;
            }),
          ]);
          expect(res.status).to.equal(200);
          const expected: Draft = { passport: { user }, a: i, b: i, ...(odd ? {} : { h: i, s: i }) };
          expect((await b.me()).data, `round ${i}`).to.deep.equal(expected);
        }
        await waitFor(() => app.view(servers[0]!)?.a === 49, 'the socket to see the last round');
        expect(app.view(servers[0]!)).to.deep.equal({ passport: { user }, a: 49, b: 49 });
      });

      it('an HTTP save based on a version older than a socket update merges: both keys stay', async () => {
        const app = await start();
        const { b, user, servers } = await loggedIn(app);
        await b.post('/set', { keep: 1, gone: 1 });
        const gate = app.gate();
        const http = b.post('/gated/set', { fromHttp: 'h', gone: null }); // loads, changes, waits
        await gate.entered;
        await app.live.update(servers[0]!, set({ fromSocket: 's', keep: 2 }));
        gate.release();
        expect((await http).status).to.equal(200);
        expect((await b.me()).data).to.deep.equal({ passport: { user }, keep: 2, fromHttp: 'h', fromSocket: 's' });
        await waitFor(() => app.view(servers[0]!)?.fromHttp === 'h', 'the socket to see the merge');
        expect(app.view(servers[0]!)).to.deep.equal({ passport: { user }, keep: 2, fromHttp: 'h', fromSocket: 's' });
      });

      it('a socket update deleting a key while an HTTP request writes another: the deletion stays', async () => {
        const app = await start();
        const { b, user, servers } = await loggedIn(app);
        await b.post('/set', { draft: 'text' });
        const gate = app.gate();
        const http = b.post('/gated/set', { fromHttp: 1 });
        await gate.entered;
        await app.live.update(servers[0]!, unset('draft'));
        gate.release();
        await http;
        expect((await b.me()).data).to.deep.equal({ passport: { user }, fromHttp: 1 });
      });

      it('a request that saves twice (req.session.save(), then the save at its end) keeps a socket update made in between', async () => {
        // The request loads, a socket writes `fromSocket`, the request saves (merged),
        // changes one more key and is saved again at its end: that second save must
        // not write the request's own copy over the socket's key.
        const app = await start();
        const { b, user, servers } = await loggedIn(app);
        const gate = app.gate();
        const http = b.post('/gated/save-twice', { first: { step: 1 }, second: { step: 2 } });
        await gate.entered;
        await app.live.update(servers[0]!, set({ fromSocket: true }));
        gate.release();
        expect((await http).status).to.equal(200);
        expect((await b.me()).data).to.deep.equal({ passport: { user }, step: 2, fromSocket: true });
      });

      it('a save based on a session destroyed meanwhile never brings it back', async () => {
        const app = await start();
        const { b, clients } = await loggedIn(app);
        const sid = b.sessionId;
        const cookie = b.cookie;
        const gate = app.gate();
        const late = b.post('/gated/set', { late: true });
        await gate.entered;
        const other = new Browser(app.url);
        other.cookie = cookie; // the same session, from another tab
        expect((await other.post('/destroy')).status).to.equal(204);
        await expectEnded(clients[0]!, 'logout');
        gate.release();
        expect((await late).status).to.equal(200);
        expect(await baseGet(app.base, sid)).to.equal(null);
        const again = new Browser(app.url);
        again.cookie = cookie;
        expect(await again.me()).to.deep.equal({ user: null, data: {} });
      });

      it('the same when the session is revoked meanwhile', async () => {
        const app = await start();
        const { b, user, clients } = await loggedIn(app);
        const sid = b.sessionId;
        const gate = app.gate();
        const late = b.post('/gated/set', { late: true });
        await gate.entered;
        expect(await app.live.revokeUser(user)).to.equal(1);
        await expectEnded(clients[0]!, 'revoked');
        gate.release();
        await late;
        expect(await baseGet(app.base, sid)).to.equal(null);
        expect(await app.live.sessionsOf(user)).to.deep.equal([]);
      });

      it('other sessions are unaffected by all this', async () => {
        const app = await start();
        const one = await loggedIn(app);
        const two = await loggedIn(app);
        await one.b.post('/set', { x: 1 });
        await app.live.update(one.servers[0]!, set({ y: 1 }));
        await one.b.post('/logout');
        await expectEnded(one.clients[0]!, 'logout');
        await expectAlive(two.clients[0]!);
        expect(await whoami(two.clients[0]!)).to.deep.equal({ passport: { user: two.user } });
      });
    });
  });
}
