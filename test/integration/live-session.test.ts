import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import type { Socket } from 'socket.io-client';
import type { Message } from '../../src/chat/types.js';
import type { SessionView } from '../../src/realtime/events.js';
import { arrivesWithin, disconnected, emitAck, nextEvent, socketFor, TestClient, uniqueName, PASSWORD, viewWhere } from '../helpers/client.js';
import { BACKENDS, startServer, type TestServer } from '../helpers/server.js';
import { needs } from '../support/services.js';

/** Opens a socket and waits for its first `session` view. */
async function open(c: TestClient, transports: string[] = ['websocket']): Promise<{ socket: Socket; view: SessionView }> {
  const socket = socketFor(c.url, { transports, headers: { cookie: c.cookie } });
  const view = await nextEvent<SessionView>(socket, 'session');
  return { socket, view };
}

for (const backend of BACKENDS) {
  describe(`one live session for both doors (${backend})`, () => {
    needs(backend);
    let server: TestServer;
    const sockets: Socket[] = [];
    const track = (s: Socket) => (sockets.push(s), s);
    before(async () => {
      server = await startServer(backend);
    });
    afterEach(() => {
      for (const s of sockets.splice(0)) s.close();
    });
    after(() => server.close());

    it('shows a display-name change to every open socket of the user without reconnecting', async () => {
      const a = new TestClient(server.url);
      const user = await a.register();
      const b = new TestClient(server.url); // the same user in another browser
      await b.login(user.username);
      const s1 = track((await open(a)).socket);
      const s2 = track((await open(b, ['polling'])).socket);
      const seen = [viewWhere(s1, (v) => v.user.displayName === 'Grace'), viewWhere(s2, (v) => v.user.displayName === 'Grace')];
      const res = await a.patch('/api/me', { displayName: 'Grace' }).expect(200);
      expect(res.body.user.displayName).to.equal('Grace');
      await Promise.all(seen);
      // The next message carries the new name.
      const join = await emitAck(s2, 'room:join', { roomId: 'general' });
      expect(join.ok).to.equal(true);
      const sent = await emitAck<{ ok: true; message: Message }>(s2, 'message:send', { roomId: 'general', text: 'hi' });
      expect(sent.message.user.displayName).to.equal('Grace');
    });

    for (const transports of [['websocket'], ['polling']]) {
      it(`ends every socket of a session at logout, but not the user's other browser (${transports[0]})`, async () => {
        const a = new TestClient(server.url);
        const user = await a.register();
        const other = new TestClient(server.url);
        await other.login(user.username);
        const tab1 = track((await open(a, transports)).socket);
        const tab2 = track((await open(a, transports)).socket);
        const elsewhere = track((await open(other, transports)).socket);
        const ended = [nextEvent<{ reason: string }>(tab1, 'session:ended'), nextEvent<{ reason: string }>(tab2, 'session:ended')];
        const gone = [disconnected(tab1), disconnected(tab2)];
        await a.logout();
        expect((await Promise.all(ended)).map((e) => e.reason)).to.deep.equal(['logout', 'logout']);
        expect(await Promise.all(gone)).to.deep.equal(['io server disconnect', 'io server disconnect']);
        expect(await arrivesWithin(elsewhere, 'session:ended', 300)).to.equal(false);
        expect(elsewhere.connected).to.equal(true);
        const still = await emitAck(elsewhere, 'presence:list', {});
        expect(still.ok).to.equal(true);
      });
    }

    it('lists my sessions with opaque ids and revokes one, ending its sockets with reason "revoked"', async () => {
      const a = new TestClient(server.url);
      const user = await a.register();
      const b = new TestClient(server.url);
      await b.login(user.username);
      const c = new TestClient(server.url);
      await c.login(user.username);
      const sb = track((await open(b)).socket);
      const sc = track((await open(c)).socket);

      const list = await a.agent.get('/api/sessions').expect(200);
      expect(list.body.sessions).to.have.length(3);
      const current = list.body.sessions.filter((s: { current: boolean }) => s.current);
      expect(current).to.have.length(1);
      for (const s of list.body.sessions) {
        expect(s.id).to.be.a('string');
        expect(a.cookie + b.cookie + c.cookie).to.not.contain(s.id);
        expect(Date.parse(s.createdAt)).to.be.a('number').and.not.NaN;
        expect(Date.parse(s.lastSeenAt)).to.be.a('number').and.not.NaN;
      }
      // Revoke b's session from a (b's is the second created).
      const bId = list.body.sessions.filter((s: { current: boolean }) => !s.current)[0].id as string;
      const endedB = nextEvent<{ reason: string }>(sb, 'session:ended');
      await a.delete(`/api/sessions/${bId}`).expect(204);
      expect((await endedB).reason).to.equal('revoked');
      await b.agent.get('/api/me').expect(401);
      await a.delete(`/api/sessions/${bId}`).expect(404);
      await a.delete('/api/sessions/not-a-handle').expect(404);

      // Revoke all the others: c goes, a stays.
      const endedC = nextEvent<{ reason: string }>(sc, 'session:ended');
      await a.post('/api/sessions/revoke-others').expect(204);
      expect((await endedC).reason).to.equal('revoked');
      await c.agent.get('/api/me').expect(401);
      const after = await a.agent.get('/api/sessions').expect(200);
      expect(after.body.sessions).to.have.length(1);
      expect(after.body.sessions[0].current).to.equal(true);
    });

    it('cannot revoke another user\'s session', async () => {
      const a = new TestClient(server.url);
      await a.register();
      const b = new TestClient(server.url);
      await b.register();
      const bs = (await b.agent.get('/api/sessions').expect(200)).body.sessions;
      await a.delete(`/api/sessions/${bs[0].id}`).expect(404);
      await b.agent.get('/api/me').expect(200);
    });

    it('lets HTTP see a socket write (room:join stores lastRoomId), and other sockets of the session too', async () => {
      const a = new TestClient(server.url);
      await a.register();
      await a.post('/api/rooms', { id: `r-${uniqueName('x').slice(2)}`.replace(/_/g, '-') }).expect(201);
      const rooms = (await a.agent.get('/api/rooms').expect(200)).body.rooms as Array<{ id: string }>;
      const roomId = rooms.find((r) => r.id !== 'general')!.id;
      const s1 = track((await open(a)).socket);
      const s2 = track((await open(a)).socket);
      const seen = viewWhere(s2, (v) => v.lastRoomId === roomId);
      const join = await emitAck(s1, 'room:join', { roomId });
      expect(join.ok).to.equal(true);
      await seen;
      const me = await a.agent.get('/api/me').expect(200);
      expect(me.body.lastRoomId).to.equal(roomId);
      // And the chat page opens it.
      const page = await a.agent.get('/chat').expect(200);
      expect(page.text).to.contain(`data-room-id="${roomId}"`);
    });

    it('shows HTTP session changes (prefs) to the socket', async () => {
      const a = new TestClient(server.url);
      await a.register();
      const s = track((await open(a)).socket);
      const seen = viewWhere(s, (v) => v.prefs.theme === 'dark');
      await a.patch('/api/prefs', { theme: 'dark' }).expect(200);
      expect((await seen).prefs).to.deep.equal({ theme: 'dark' });
    });

    it('loses no field across 100 interleaved concurrent HTTP and socket writes', async () => {
      const a = new TestClient(server.url);
      await a.register();
      const roomIds = ['general'];
      for (const n of [1, 2]) {
        const id = `w${n}-${uniqueName('r').slice(2)}`.replace(/_/g, '-');
        await a.post('/api/rooms', { id }).expect(201);
        roomIds.push(id);
      }
      const s = track((await open(a)).socket);
      const themes = ['light', 'dark', 'system'] as const;
      for (let i = 0; i < 50; i++) {
        const theme = themes[i % 3]!;
        const roomId = roomIds[(i + 1) % 3]!;
        const [http, sock] = await Promise.all([
          a.patch('/api/prefs', { theme }),
          emitAck(s, 'room:join', { roomId }),
        ]);
        expect(http.status).to.equal(200);
        expect(sock.ok).to.equal(true);
        const me = await a.agent.get('/api/me').expect(200);
        expect({ theme: me.body.prefs.theme, lastRoomId: me.body.lastRoomId }, `round ${i}`).to.deep.equal({ theme, lastRoomId: roomId });
      }
    });

    it('reads the live view in handlers: no session-store read per event', async () => {
      const a = new TestClient(server.url);
      await a.register();
      const s = track((await open(a)).socket);
      await emitAck(s, 'room:join', { roomId: 'general' });
      await sleep(50); // let the join's own notification settle
      const base = server.stores.sessionBase;
      const originalGet = base.get.bind(base);
      let reads = 0;
      base.get = ((sid: string, cb: never) => {
        reads++;
        return originalGet(sid, cb);
      }) as typeof base.get;
      try {
        for (let i = 0; i < 20; i++) expect((await emitAck(s, 'typing', { roomId: 'general', typing: i % 2 === 0 })).ok).to.equal(true);
      } finally {
        base.get = originalGet;
      }
      expect(reads).to.equal(0);
    });

    it('ends the sockets of other sessions after a password change; they cannot keep acting', async () => {
      const a = new TestClient(server.url);
      const user = await a.register();
      await a.patch('/api/prefs', { theme: 'dark' }).expect(200);
      const thief = new TestClient(server.url);
      await thief.login(user.username);
      const { socket } = await open(thief);
      track(socket);
      const ended = nextEvent<{ reason: string }>(socket, 'session:ended');
      const changed = await a.post('/api/password', { currentPassword: PASSWORD, newPassword: 'a brand new secret' }).expect(200);
      expect(changed.body.csrfToken).to.be.a('string');
      expect((await ended).reason).to.equal('revoked');
      await disconnected(socket);
      const again = await thief.connect().then(() => null, (e: Error) => e);
      expect(again?.message).to.equal('unauthorized');
      await thief.agent.get('/api/me').expect(401);
      // This device stays signed in, on a new session that keeps its own choices.
      expect((await a.agent.get('/api/me').expect(200)).body.prefs).to.deep.equal({ theme: 'dark' });
      // The old password no longer works; the new one does.
      const fresh = new TestClient(server.url);
      await fresh.fetchCsrf();
      await fresh.post('/api/login', { username: user.username, password: PASSWORD }).expect(401);
      await fresh.login(user.username, 'a brand new secret');
    });
  });

  describe(`session expiry (${backend})`, () => {
    needs(backend);
    let server: TestServer;
    before(async () => {
      server = await startServer(backend, { SESSION_TTL_SECONDS: '2' });
    });
    after(() => server.close());

    it('ends an idle open socket at its deadline with reason "expired", and an active one lives on', async () => {
      const idle = new TestClient(server.url);
      await idle.register();
      const active = new TestClient(server.url);
      await active.register();
      const { socket: idleSocket, view } = await open(idle);
      const { socket: activeSocket } = await open(active);
      try {
        const deadline = Date.parse(view.expiresAt);
        const ended = nextEvent<{ reason: string }>(idleSocket, 'session:ended', 6000);
        // Keep the active one busy for well past one TTL.
        const stopAt = Date.now() + 4500;
        let activeEnded = false;
        activeSocket.on('session:ended', () => (activeEnded = true));
        const busy = (async () => {
          while (Date.now() < stopAt) {
            expect((await emitAck(activeSocket, 'presence:list', {})).ok).to.equal(true);
            await sleep(250);
          }
        })();
        const { reason } = await ended;
        expect(reason).to.equal('expired');
        expect(Date.now()).to.be.at.least(deadline - 50); // not before its deadline
        await disconnected(idleSocket);
        await busy;
        expect(activeEnded).to.equal(false);
        expect(activeSocket.connected).to.equal(true);
        // The active session is still valid over HTTP too: socket activity kept it alive.
        await active.agent.get('/api/me').expect(200);
        await idle.agent.get('/api/me').expect(401);
      } finally {
        idleSocket.close();
        activeSocket.close();
      }
    });
  });
}
