import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { expect } from 'chai';
import request from 'supertest';
import { BACKENDS, startServer, type TestServer } from '../helpers/server.js';
import { connectSocket, nextEvent, socketFor, TestClient, uniqueName, PASSWORD } from '../helpers/client.js';
import type { SessionView } from '../../src/realtime/events.js';
import { needs } from '../support/services.js';

const TRANSPORTS = [['websocket'], ['polling']] as const;

for (const backend of BACKENDS) {
  describe(`one session cookie for HTTP and Socket.IO (${backend})`, () => {
    needs(backend);
    let server: TestServer;
    before(async () => {
      server = await startServer(backend);
    });
    after(() => server.close());

    for (const transports of TRANSPORTS) {
      it(`names the HTTP user on a socket with the same cookie (${transports[0]})`, async () => {
        const c = new TestClient(server.url);
        const user = await c.register(uniqueName(), PASSWORD, 'Ada Lovelace');
        const s2 = socketFor(server.url, { transports: [...transports], headers: { cookie: c.cookie } });
        const view = await nextEvent<SessionView>(s2, 'session');
        expect(view.user).to.deep.equal(user);
        expect(view.user.displayName).to.equal('Ada Lovelace');
        expect(view.lastRoomId).to.equal(null);
        expect(Date.parse(view.expiresAt)).to.be.greaterThan(Date.now());
        expect(s2.io.engine.transport.name).to.equal(transports[0]);
        s2.close();
      });
    }

    it('keeps neither the handshake request nor its session on the socket, only the live view', async () => {
      const c = new TestClient(server.url);
      const user = await c.register();
      const s = socketFor(server.url, { transports: ['websocket'], headers: { cookie: c.cookie } });
      await nextEvent<SessionView>(s, 'session');
      const held = server.app.io.of('/').sockets.get(s.id!);
      expect(held, 'the server socket').to.not.equal(undefined);
      expect(held!.conn.request, 'the handshake request (and through it the session)').to.equal(null);
      expect(held!.data.user.id).to.equal(user.id);
      s.close();
    });

    it('offers no per-message deflate on the websocket upgrade', async () => {
      const url = new URL('/socket.io/?EIO=4&transport=websocket', server.url);
      const headers = await new Promise<IncomingHttpHeaders>((resolve, reject) => {
        const req = httpRequest(url, {
          headers: {
            Connection: 'Upgrade',
            Upgrade: 'websocket',
            Origin: server.origin,
            'Sec-WebSocket-Version': '13',
            'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
            'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits',
          },
        });
        req.on('upgrade', (res, socket) => {
          socket.destroy();
          resolve(res.headers);
        });
        req.on('response', (res) => reject(new Error(`no upgrade: ${res.statusCode}`)));
        req.on('error', reject);
        req.end();
      });
      expect(headers['sec-websocket-accept'], 'upgraded').to.be.a('string');
      expect(headers['sec-websocket-extensions']).to.equal(undefined);
    });

    it('refuses a handshake with no cookie', async () => {
      const err = await connectSocket(server.url).then(
        () => null,
        (e: Error) => e,
      );
      expect(err?.message).to.equal('unauthorized');
    });

    it('refuses an anonymous session (a session with no user in it)', async () => {
      const c = new TestClient(server.url);
      await c.fetchCsrf();
      expect(c.cookie).to.match(/^sid=/);
      const err = await c.connect().then(() => null, (e: Error) => e);
      expect(err?.message).to.equal('unauthorized');
    });

    it('refuses a cookie with a forged signature', async () => {
      const c = new TestClient(server.url);
      await c.register();
      const [name, value] = c.cookie.split('=') as [string, string];
      const decoded = decodeURIComponent(value); // s:<sid>.<signature>
      const forged = `${name}=${encodeURIComponent(decoded.slice(0, -4) + (decoded.endsWith('AAAA') ? 'BBBB' : 'AAAA'))}`;
      const err = await connectSocket(server.url, { headers: { cookie: forged } }).then(() => null, (e: Error) => e);
      expect(err?.message).to.equal('unauthorized');
      // An unsigned raw session id is no better.
      const sid = decoded.slice(2, decoded.lastIndexOf('.'));
      const raw = await connectSocket(server.url, { headers: { cookie: `sid=${sid}` } }).then(() => null, (e: Error) => e);
      expect(raw?.message).to.equal('unauthorized');
    });

    it('refuses the cookie of a logged-out session', async () => {
      const c = new TestClient(server.url);
      await c.register();
      const oldCookie = c.cookie;
      await c.logout();
      const err = await connectSocket(server.url, { headers: { cookie: oldCookie } }).then(() => null, (e: Error) => e);
      expect(err?.message).to.equal('unauthorized');
      await request(server.url).get('/api/me').set('cookie', oldCookie).expect(401);
    });

    it('gives a new session id at login (no fixation)', async () => {
      const c = new TestClient(server.url);
      const username = uniqueName();
      await c.register(username);
      await c.logout();
      await c.fetchCsrf();
      const before = c.cookie;
      expect(before).to.match(/^sid=/);
      await c.login(username);
      expect(c.cookie).to.match(/^sid=/).and.not.equal(before);
      // The pre-login id is not logged in.
      await request(server.url).get('/api/me').set('cookie', before).expect(401);
      await c.agent.get('/api/me').expect(200);
    });

    it('hands out CSRF tokens of 32 random bytes (64 hex digits), a new one per session', async () => {
      const a = new TestClient(server.url);
      const b = new TestClient(server.url);
      await a.fetchCsrf();
      await b.fetchCsrf();
      expect(a.csrf).to.match(/^[0-9a-f]{64}$/);
      expect(b.csrf).to.match(/^[0-9a-f]{64}$/).and.not.equal(a.csrf);
    });

    it('answers 403 csrf to state-changing requests without the token', async () => {
      const c = new TestClient(server.url);
      await c.register();
      const noToken = await c.agent.patch('/api/prefs').send({ theme: 'dark' }).expect(403);
      expect(noToken.body).to.deep.include({ error: { code: 'csrf', message: 'missing or invalid CSRF token' } });
      await c.agent.patch('/api/prefs').set('x-csrf-token', 'not-the-token').send({ theme: 'dark' }).expect(403);
      await c.agent.post('/api/logout').expect(403);
      const anon = new TestClient(server.url);
      const res = await anon.agent.post('/api/login').send({ username: 'someone', password: PASSWORD }).expect(403);
      expect(res.body.error.code).to.equal('csrf');
      // The session is untouched: still logged in, prefs unchanged.
      const me = await c.agent.get('/api/me').expect(200);
      expect(me.body.prefs).to.deep.equal({});
      // With the token the same request works, and a form field works too.
      await c.patch('/api/prefs', { theme: 'dark' }).expect(200);
      await c.agent.patch('/api/prefs').type('form').send({ theme: 'light', _csrf: c.csrf }).expect(200);
    });

    for (const transports of TRANSPORTS) {
      it(`never connects a valid cookie from a foreign Origin (${transports[0]})`, async () => {
        const c = new TestClient(server.url);
        await c.register();
        for (const origin of ['http://evil.example', 'null', server.url.replace('127.0.0.1', 'localhost')]) {
          const err = await c
            .connect({ transports: [...transports], headers: { origin } })
            .then((s) => (s.close(), null), (e: Error) => e);
          expect(err, origin).to.be.instanceOf(Error);
          expect(err!.message).to.not.equal('unauthorized'); // refused before the session is even read
        }
        // Sec-Fetch-Site: cross-site without an Origin is refused too.
        const err = await c
          .connect({ transports: [...transports], headers: { 'sec-fetch-site': 'cross-site' } })
          .then((s) => (s.close(), null), (e: Error) => e);
        expect(err).to.be.instanceOf(Error);
        // The same cookie from our own origin connects.
        const ok = await c.connect({ transports: [...transports], headers: { origin: server.origin } });
        ok.close();
      });
    }

    it('refuses later polling requests of an open connection from a foreign origin', async () => {
      const c = new TestClient(server.url);
      await c.register();
      const open = await request(server.url).get('/socket.io/?EIO=4&transport=polling').set('cookie', c.cookie).expect(200);
      const sid = JSON.parse(open.text.slice(1)).sid as string;
      await request(server.url)
        .get(`/socket.io/?EIO=4&transport=polling&sid=${sid}`)
        .set('cookie', c.cookie)
        .set('origin', 'http://evil.example')
        .expect(400);
    });

    it('answers 400 and stores nothing for malformed register and login input', async () => {
      const c = new TestClient(server.url);
      await c.fetchCsrf();
      const name = uniqueName();
      const bad: object[] = [
        {},
        { username: name },
        { password: PASSWORD },
        { username: name, password: 'short' },
        { username: name, password: 'x'.repeat(201) },
        { username: 'x'.repeat(33), password: PASSWORD },
        { username: 'ab', password: PASSWORD },
        { username: 'Has Spaces', password: PASSWORD },
        { username: { $gt: '' }, password: PASSWORD },
        { username: [name], password: PASSWORD },
        { username: name, password: { length: 12 } },
        { username: name, password: [PASSWORD] },
        { username: 12345, password: PASSWORD },
      ];
      const badDisplayNames = [{ x: 1 }, ['a'], 'y'.repeat(65), 'bell\u0007'];
      for (const body of [...bad, ...badDisplayNames.map((displayName) => ({ username: name, password: PASSWORD, displayName }))]) {
        const res = await c.post('/api/register', body);
        expect(res.status, JSON.stringify(body)).to.equal(400);
        expect(res.body.error.code).to.equal('bad_request');
      }
      for (const body of bad) {
        const login = await c.post('/api/login', body);
        expect(login.status, JSON.stringify(body)).to.equal(400);
        expect(login.body.error.code).to.equal('bad_request');
      }
      expect(await server.stores.users.findByUsername(name)).to.equal(null);
      // Not JSON at all, and an array body.
      await c.agent.post('/api/register').set('x-csrf-token', c.csrf).set('content-type', 'application/json').send('{"username":').expect(400);
      await c.post('/api/register', [name, PASSWORD]).expect(400);
      await c.agent.get('/api/me').expect(401);
    });

    it('takes a blank display name (an untouched optional form field) as "not given"', async () => {
      const c = new TestClient(server.url);
      await c.fetchCsrf();
      const username = uniqueName();
      const res = await c.post('/api/register', { username, password: PASSWORD, displayName: '  ' }).expect(201);
      expect(res.body.user.displayName).to.equal(username);
    });

    it('refuses a taken username with 409 and wrong passwords with 401', async () => {
      const a = new TestClient(server.url);
      const user = await a.register();
      const b = new TestClient(server.url);
      await b.fetchCsrf();
      const taken = await b.post('/api/register', { username: user.username, password: PASSWORD }).expect(409);
      expect(taken.body.error.code).to.equal('username_taken');
      const wrong = await b.post('/api/login', { username: user.username, password: 'wrong password' }).expect(401);
      expect(wrong.body.error.code).to.equal('invalid_credentials');
      const unknown = await b.post('/api/login', { username: uniqueName(), password: PASSWORD }).expect(401);
      expect(unknown.body.error.code).to.equal('invalid_credentials');
    });

    it('locks a username after 10 failed logins with 429 rate_limited', async () => {
      const a = new TestClient(server.url);
      const user = await a.register();
      const b = new TestClient(server.url);
      await b.fetchCsrf();
      for (let i = 0; i < 10; i++) await b.post('/api/login', { username: user.username, password: 'wrong password' }).expect(401);
      const limited = await b.post('/api/login', { username: user.username, password: PASSWORD }).expect(429);
      expect(limited.body.error.code).to.equal('rate_limited');
      expect(Number(limited.headers['retry-after'])).to.be.greaterThan(0);
    });

    it('stores passwords only as a slow hash', async () => {
      const c = new TestClient(server.url);
      const user = await c.register();
      const stored = await server.stores.users.findById(user.id);
      expect(stored?.passwordHash).to.match(/^\$argon2id\$/);
      expect(stored?.passwordHash).to.not.contain(PASSWORD);
    });

    it('sets the session cookie httpOnly and SameSite=Lax', async () => {
      const res = await request(server.url).get('/api/csrf').expect(200);
      const cookie = String(res.headers['set-cookie']);
      expect(cookie).to.match(/HttpOnly/i).and.match(/SameSite=Lax/i);
      expect(cookie).to.not.match(/Secure/i); // not in production
    });

    it('serves /healthz and /readyz', async () => {
      await request(server.url).get('/healthz').expect(200, { ok: true });
      await request(server.url).get('/readyz').expect(200);
    });
  });
}

describe('cross-origin clients listed in ALLOWED_ORIGINS', () => {
  const ALLOWED = 'http://app.allowed.example';
  let server: TestServer;
  before(async () => {
    server = await startServer('memory', { ALLOWED_ORIGINS: ALLOWED });
  });
  after(() => server.close());

  for (const transports of TRANSPORTS) {
    it(`connect with the same session using withCredentials (${transports[0]})`, async () => {
      const c = new TestClient(server.url);
      const user = await c.register();
      const s = socketFor(server.url, {
        transports: [...transports],
        withCredentials: true,
        headers: { cookie: c.cookie, origin: ALLOWED },
      });
      const view = await nextEvent<SessionView>(s, 'session');
      expect(view.user.id).to.equal(user.id);
      s.close();
    });
  }

  it('gets CORS headers with credentials on polling and on the API; an unlisted origin gets none', async () => {
    const c = new TestClient(server.url);
    await c.register();
    const poll = await request(server.url).get('/socket.io/?EIO=4&transport=polling').set('cookie', c.cookie).set('origin', ALLOWED).expect(200);
    expect(poll.headers['access-control-allow-origin']).to.equal(ALLOWED);
    expect(poll.headers['access-control-allow-credentials']).to.equal('true');

    const me = await request(server.url).get('/api/me').set('cookie', c.cookie).set('origin', ALLOWED).expect(200);
    expect(me.headers['access-control-allow-origin']).to.equal(ALLOWED);
    expect(me.headers['access-control-allow-credentials']).to.equal('true');
    const preflight = await request(server.url)
      .options('/api/prefs')
      .set('origin', ALLOWED)
      .set('access-control-request-method', 'PATCH')
      .set('access-control-request-headers', 'content-type,x-csrf-token');
    expect(preflight.status).to.be.within(200, 204);
    expect(preflight.headers['access-control-allow-origin']).to.equal(ALLOWED);

    const other = await request(server.url).get('/api/me').set('cookie', c.cookie).set('origin', 'http://other.example');
    expect(other.status).to.equal(403);
    expect(other.headers['access-control-allow-origin']).to.equal(undefined);
    expect(other.headers['access-control-allow-credentials']).to.equal(undefined);
  });
});

describe('configuration at start', () => {
  it('exits 1 with a clear message in production without SESSION_SECRET', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      env: { ...process.env, NODE_ENV: 'production', SESSION_SECRET: '', PORT: '0', REDIS_URL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).to.equal(1);
    expect(output).to.contain('SESSION_SECRET');
    expect(output).to.not.contain('listening on');
  });

  it('names the variable in other configuration errors', async () => {
    const { loadConfig } = await import('../../src/config.js');
    expect(() => loadConfig({ PORT: 'eighty' })).to.throw(/PORT/);
    expect(() => loadConfig({ ALLOWED_ORIGINS: 'http://ok.example,not a url' })).to.throw(/ALLOWED_ORIGINS/);
    expect(() => loadConfig({ SESSION_TTL_SECONDS: '0' })).to.throw(/SESSION_TTL_SECONDS/);
    const rotated = loadConfig({ SESSION_SECRET: 'new-secret,old-secret' });
    expect(rotated.sessionSecrets).to.deep.equal(['new-secret', 'old-secret']);
  });
});

