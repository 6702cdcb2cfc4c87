import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import request from 'supertest';
import { connectSocket, disconnected, emitAck, nextEvent, PASSWORD, TestClient } from '../helpers/client.js';
import { ChatHarness, collect, waitFor } from '../helpers/chat.js';
import { BACKENDS, type TestServer } from '../helpers/server.js';
import { needs } from '../support/services.js';

/*
 * Promises that must hold when requests race: a password change against logins
 * that verified the old password, and a Socket.IO CONNECT that arrives after
 * its session ended (the Engine.IO handshake came before).
 */

const NEW_PASSWORD = 'a brand new secret';

/** Whether a cookie still gives a logged-in session, on HTTP and on a socket. */
async function alive(server: TestServer, cookie: string): Promise<{ http: number; socket: string }> {
  const http = (await request(server.url).get('/api/me').set('cookie', cookie)).status;
  const socket = await connectSocket(server.url, { headers: { cookie } }).then(
    (s) => (s.close(), 'connected'),
    (err: Error) => err.message,
  );
  return { http, socket };
}

/** A raw Engine.IO v4 long-polling connection: the handshake, then packets sent and received by hand. */
class RawPolling {
  private constructor(
    private readonly url: string,
    private readonly cookie: string,
    readonly sid: string,
  ) {}

  /** The Engine.IO handshake only: the session is loaded, but no Socket.IO CONNECT is sent yet. */
  static async open(url: string, cookie: string): Promise<RawPolling> {
    const res = await request(url).get('/socket.io/?EIO=4&transport=polling').set('cookie', cookie).expect(200);
    const open = /^0(\{.*\})$/.exec(res.text);
    expect(open, `open packet: ${res.text}`).to.not.equal(null);
    return new RawPolling(url, cookie, (JSON.parse(open![1]!) as { sid: string }).sid);
  }

  async send(packet: string) {
    await request(this.url).post(`/socket.io/?EIO=4&transport=polling&sid=${this.sid}`).set('cookie', this.cookie).type('text/plain').send(packet).expect(200);
  }

  /** The packets of the next poll. */
  async poll(): Promise<string[]> {
    const res = await request(this.url).get(`/socket.io/?EIO=4&transport=polling&sid=${this.sid}`).set('cookie', this.cookie).expect(200);
    return res.text.split('\x1e');
  }
}

for (const backend of BACKENDS) {
  describe(`races around the session (${backend})`, function () {
    needs(backend);
    this.timeout(60_000);
    const h = new ChatHarness(backend);
    let server: TestServer;
    before(async () => {
      await h.start();
      server = h.server;
    });
    afterEach(() => h.closeSockets());
    after(() => h.stop());

    describe('a password change', () => {
      it('moves this session to a new id and CSRF token; the old id is dead on HTTP and sockets', async () => {
        const me = new TestClient(server.url);
        await me.register();
        const oldCookie = me.cookie;
        const oldCsrf = me.csrf;
        const oldSocket = await h.open(me);
        const ended = nextEvent<{ reason: string }>(oldSocket, 'session:ended');
        const res = await me.post('/api/password', { currentPassword: PASSWORD, newPassword: NEW_PASSWORD }).expect(200);
        expect(res.body.csrfToken).to.be.a('string').and.not.equal(oldCsrf);
        expect(me.cookie, 'a new session id').to.not.equal(oldCookie);
        await ended;
        await disconnected(oldSocket);
        expect(await alive(server, oldCookie)).to.deep.equal({ http: 401, socket: 'unauthorized' });
        // This browser carries on, with the new cookie and token.
        expect(await alive(server, me.cookie)).to.deep.equal({ http: 200, socket: 'connected' });
        me.csrf = res.body.csrfToken as string;
        await me.patch('/api/prefs', { theme: 'dark' }).expect(200);
        await me.agent.patch('/api/prefs').set('x-csrf-token', oldCsrf).send({ theme: 'light' }).expect(403);
      });

      it('leaves no working session to logins that verified the old password while it ran, at any offset', async () => {
        let survivors = 0;
        let raced = 0;
        for (const offsets of [
          [0, 15, 30, 45, 60, 75, 90],
          [5, 25, 50, 70, 85, 100, 120],
        ]) {
          const owner = new TestClient(server.url);
          const user = await owner.register();
          const racers = await Promise.all(offsets.map(async () => {
            const c = new TestClient(server.url);
            await c.fetchCsrf();
            return c;
          }));
          const change = owner.post('/api/password', { currentPassword: PASSWORD, newPassword: NEW_PASSWORD }).expect(200);
          const logins = racers.map(async (c, i) => {
            await sleep(offsets[i]!);
            const res = await c.post('/api/login', { username: user.username, password: PASSWORD });
            return res.status;
          });
          await change;
          const statuses = await Promise.all(logins);
          for (const [i, status] of statuses.entries()) {
            expect([200, 401], `login at +${offsets[i]} ms`).to.include(status);
            if (status !== 200) continue;
            raced += 1;
            const state = await alive(server, racers[i]!.cookie);
            if (state.http === 200 || state.socket === 'connected') survivors += 1;
          }
          // And the new password works.
          const fresh = new TestClient(server.url);
          await fresh.login(user.username, NEW_PASSWORD);
        }
        expect(survivors, `sessions of ${raced} logins that verified the old password`).to.equal(0);
        // Logins sent alongside the change verify the old password before it commits (it hashes twice first).
        expect(raced, 'logins that verified the old password').to.be.greaterThan(0);
      });

      it('ends the sockets of every other session with "revoked", and keeps this browser signed in', async () => {
        const me = new TestClient(server.url);
        const user = await me.register();
        const other = new TestClient(server.url);
        await other.login(user.username);
        const elsewhere = await h.open(other);
        const ended = nextEvent<{ reason: string }>(elsewhere, 'session:ended');
        await me.post('/api/password', { currentPassword: PASSWORD, newPassword: NEW_PASSWORD }).expect(200);
        expect((await ended).reason).to.equal('revoked');
        expect(await alive(server, other.cookie)).to.deep.equal({ http: 401, socket: 'unauthorized' });
        expect((await alive(server, me.cookie)).http).to.equal(200);
      });
    });

    /** A third user's socket that records every `presence` event. */
    async function watcher() {
      const w = new TestClient(server.url);
      await w.register();
      const s = await h.open(w);
      return collect<{ user: { username: string }; online: boolean }>(s, 'presence');
    }

    describe('a Socket.IO CONNECT after the Engine.IO handshake', () => {
      /** Sends CONNECT on a handshake made before `end` ran; answers what the next poll brought. */
      async function connectAfter(c: TestClient, end: () => Promise<void>) {
        const raw = await RawPolling.open(server.url, c.cookie);
        await end();
        await raw.send('40');
        return raw.poll();
      }

      for (const [what, end] of [
        ['logout', (c: TestClient) => c.logout()],
        [
          'revocation from another session',
          async (c: TestClient) => {
            const other = new TestClient(server.url);
            await other.login(c.user!.username);
            const list = await other.agent.get('/api/sessions').expect(200);
            const target = (list.body.sessions as Array<{ id: string; current: boolean }>).find((s) => !s.current)!;
            await other.delete(`/api/sessions/${target.id}`).expect(204);
          },
        ],
        [
          'a password change in another session',
          async (c: TestClient) => {
            const other = new TestClient(server.url);
            await other.login(c.user!.username);
            await other.post('/api/password', { currentPassword: PASSWORD, newPassword: NEW_PASSWORD }).expect(200);
          },
        ],
      ] as const) {
        it(`is refused with unauthorized after ${what}, announcing nothing`, async () => {
          const presence = await watcher();
          const c = new TestClient(server.url);
          const user = await c.register();
          const packets = await connectAfter(c, () => end(c));
          expect(packets).to.deep.equal(['44{"message":"unauthorized"}']);
          await sleep(300);
          expect(presence.filter((p) => p.user.username === user.username)).to.deep.equal([]);
        });
      }

      it('is refused even when the session has other sockets on this process', async () => {
        const c = new TestClient(server.url);
        await c.register();
        const tab = await h.open(c);
        const raw = await RawPolling.open(server.url, c.cookie);
        const ended = nextEvent(tab, 'session:ended');
        await c.logout();
        await ended;
        await raw.send('40');
        expect(await raw.poll()).to.deep.equal(['44{"message":"unauthorized"}']);
      });

      it('connects when the session is still live (the control)', async () => {
        const c = new TestClient(server.url);
        const user = await c.register();
        const raw = await RawPolling.open(server.url, c.cookie);
        await raw.send('40');
        const packets = await raw.poll();
        expect(packets[0]).to.match(/^40\{"sid":/);
        while (!packets.some((p) => p.startsWith('42["session"'))) packets.push(...(await raw.poll()));
        expect(packets.find((p) => p.startsWith('42["session"'))).to.include(`"username":"${user.username}"`);
      });
    });

    /*
     * The user read and the presence record of a CONNECT run together: a socket refused by the
     * user check (or a failed read) may already be recorded, and counted against the cap.
     */
    describe('a CONNECT refused after its presence was recorded', () => {
      const refusal = (cookie: string) =>
        connectSocket(server.url, { headers: { cookie } }).then(
          (s) => (s.close(), 'connected'),
          (err: Error) => err.message,
        );

      it('a login gone stale whose revocation was missed: unauthorized, the record undone, nothing announced', async () => {
        const presence = await watcher();
        const c = new TestClient(server.url);
        const user = await c.register();
        // The password changes in the store only: no revocation, no message on the bus.
        expect(await server.stores.users.changePassword(user.id, 0, 'another hash')).to.equal(1);
        expect(await refusal(c.cookie)).to.equal('unauthorized');
        await sleep(300);
        expect(presence.filter((p) => p.user.username === user.username), 'presence events').to.deep.equal([]);
        expect(await server.stores.presence.online(), 'who is online').to.not.include(user.id);
      });

      it('a user read that fails: unavailable, the record undone, nothing announced; the next socket is the first again', async () => {
        const presence = await watcher();
        const c = new TestClient(server.url);
        const user = await c.register();
        const users = server.stores.users;
        const findById = users.findById;
        users.findById = async () => {
          users.findById = findById;
          throw new Error('the user store failed');
        };
        try {
          expect(await refusal(c.cookie)).to.equal('unavailable');
        } finally {
          users.findById = findById;
        }
        await sleep(300);
        expect(presence.filter((p) => p.user.username === user.username), 'presence events').to.deep.equal([]);
        expect(await server.stores.presence.online(), 'who is online').to.not.include(user.id);
        await h.open(c);
        await waitFor(() => presence.some((p) => p.user.username === user.username), 'the online announcement');
        expect(presence.filter((p) => p.user.username === user.username)).to.deep.equal([{ user: presence.find((p) => p.user.username === user.username)!.user, online: true }]);
      });

      it('a second socket of the user on this process joins the user room without holding its channel again, and gets DMs', async () => {
        const c = new TestClient(server.url);
        const user = await c.register();
        const sender = new TestClient(server.url);
        await sender.register();
        const channels = server.stores.roomChannels;
        const hold = channels.hold;
        const held: string[] = [];
        channels.hold = (room) => (held.push(room), hold.call(channels, room));
        try {
          const first = await h.open(c);
          const second = await h.open(c);
          expect(held.filter((r) => r === `user:${user.id}`), 'holds of the user room').to.have.length(1);
          const dms = [nextEvent<{ text: string }>(first, 'dm:new'), nextEvent<{ text: string }>(second, 'dm:new')];
          const from = await h.open(sender);
          expect(await emitAck(from, 'dm:send', { to: user.username, text: 'to both tabs' })).to.have.property('ok', true);
          for (const dm of await Promise.all(dms)) expect(dm.text).to.equal('to both tabs');
          // Once the room has no socket here, the next one holds the channel again.
          first.close();
          second.close();
          await waitFor(() => !server.app.io.of('/').adapter.rooms.has(`user:${user.id}`), 'the user room to empty');
          await h.open(c);
          expect(held.filter((r) => r === `user:${user.id}`), 'holds of the user room').to.have.length(2);
        } finally {
          channels.hold = hold;
        }
      });
    });
  });
}
