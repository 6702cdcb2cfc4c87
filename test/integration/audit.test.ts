import { randomBytes, randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { expect } from 'chai';
import { pino } from 'pino';
import request from 'supertest';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { start, type Started } from '../../src/start.js';
import { BACKENDS } from '../helpers/server.js';
import { connectSocket, disconnected, emitAck, TestClient, uniqueName } from '../helpers/client.js';
import { deleteRedisPrefix, REDIS_URL } from '../unit/helpers/redis.js';

/**
 * The project's own logger (its redaction included) at `trace`, every line it writes
 * kept as text. pino has no public way to give createLogger a destination, so its
 * stream is swapped before anything is logged (children share it).
 */
function capturedLogger() {
  const text: string[] = [];
  const log = createLogger('trace');
  (log as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] = new Writable({
    write(chunk: Buffer, _enc, done) {
      text.push(chunk.toString());
      done();
    },
  });
  return { log, text };
}

type Line = Record<string, unknown>;
const FOREIGN = 'http://evil.example';

for (const backend of BACKENDS) {
  describe(`audit lines, and no secret in any log line (${backend})`, () => {
    const prefix = `test:audit:${randomUUID().slice(0, 8)}:`;
    const { log, text } = capturedLogger();
    let server: Started;
    /** Every secret the run used or was given: passwords, cookie values, session ids, CSRF tokens. */
    const secrets = new Set<string>();
    const lines = () =>
      text
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Line);
    const audits = (name: string) => lines().filter((l) => l.audit === name);

    /** Remembers a client's current cookie (as sent, decoded, and the session id inside) and CSRF token. */
    function remember(c: TestClient) {
      if (c.csrf) secrets.add(c.csrf);
      const value = c.cookie.slice('sid='.length);
      if (!value) return;
      const decoded = decodeURIComponent(value);
      secrets.add(value).add(decoded).add(decoded.slice(2, decoded.lastIndexOf('.')));
    }
    const password = () => {
      const p = `pw-${randomBytes(9).toString('base64url')}`;
      secrets.add(p);
      return p;
    };
    const handleOf = async (c: TestClient) => {
      const res = await c.agent.get('/api/sessions').expect(200);
      return (res.body.sessions as Array<{ id: string; current: boolean }>).find((s) => s.current)!.id;
    };

    before(async () => {
      const config = loadConfig({
        LOG_LEVEL: 'trace',
        SESSION_SECRET: 'audit-secret-0123456789abcdef',
        HOST: '127.0.0.1',
        PORT: '0',
        MAX_SOCKETS_PER_USER: '1',
        RATE_LIMITS: 'typing=1/60,login=2/900',
        ...(backend === 'redis' ? { REDIS_URL, REDIS_PREFIX: prefix } : {}),
      });
      server = await start(config, { log, announce: false });
    });
    after(async () => {
      await server.close();
      if (backend === 'redis') await deleteRedisPrefix(prefix);
    });

    it('writes one audit line per security event, with user, ip and the session handle, and never a secret', async () => {
      const ip = '127.0.0.1';
      const username = uniqueName('alice');
      const first = password();
      const second = password();
      const wrong = password();

      // register
      const a = new TestClient(server.url);
      await a.register(username, first);
      remember(a);
      const aHandle = await handleOf(a);
      expect(audits('register').at(-1)).to.include({ user: username, ip, session: aHandle });

      // login_failed, then login, on another device
      const b = new TestClient(server.url);
      await b.fetchCsrf();
      remember(b);
      await b.post('/api/login', { username, password: wrong }).expect(401);
      await b.login(username, first);
      remember(b);
      const bHandle = await handleOf(b);
      expect(audits('login_failed').at(-1)).to.include({ user: username, ip, reason: 'invalid_credentials' });
      expect(audits('login').at(-1)).to.include({ user: username, ip, session: bHandle });

      // rate_limited: failed logins beyond the limit (another user: the limit is per username)
      const carol = new TestClient(server.url);
      const carolName = uniqueName('carol');
      await carol.register(carolName, password());
      remember(carol);
      const stranger = new TestClient(server.url);
      await stranger.fetchCsrf();
      remember(stranger);
      for (let i = 0; i < 2; i++) await stranger.post('/api/login', { username: carolName, password: wrong }).expect(401);
      await stranger.post('/api/login', { username: carolName, password: wrong }).expect(429);
      expect(audits('rate_limited').at(-1)).to.include({ user: carolName, ip, limit: 'login' });

      // csrf_refused: a state-changing request without the token
      await a.agent.post('/api/rooms').send({ id: 'no-token' }).expect(403);
      expect(audits('csrf_refused').at(-1)).to.include({ user: username, ip, session: aHandle, method: 'POST', path: '/api/rooms' });

      // origin_refused: the API, and a socket, from a foreign origin
      await request(server.url).post('/api/login').set('origin', FOREIGN).send({ username, password: first }).expect(403);
      expect(audits('origin_refused').at(-1)).to.include({ ip, origin: FOREIGN, method: 'POST', path: '/api/login' });
      expect(await a.connect({ headers: { origin: FOREIGN } }).then(() => 'connected', () => 'refused')).to.equal('refused');
      expect(audits('origin_refused').at(-1)).to.include({ ip, origin: FOREIGN, path: '/socket.io/' });

      // handshake_refused: no session; one socket too many
      expect(await connectSocket(server.url).then(() => 'connected', (e: Error) => e.message)).to.equal('unauthorized');
      expect(audits('handshake_refused').at(-1)).to.include({ ip, reason: 'unauthorized' });
      const socket = await a.connect();
      expect(await a.connect().then(() => 'connected', (e: Error) => e.message)).to.equal('too_many_connections');
      expect(audits('handshake_refused').at(-1)).to.include({ user: username, ip, session: aHandle, reason: 'too_many_connections' });

      // rate_limited on a socket
      await emitAck(socket, 'room:join', { roomId: 'general' });
      expect((await emitAck(socket, 'typing', { roomId: 'general', typing: true })).ok).to.equal(true);
      expect((await emitAck(socket, 'typing', { roomId: 'general', typing: true })).error.code).to.equal('rate_limited');
      expect(audits('rate_limited').at(-1)).to.include({ user: username, ip, session: aHandle, limit: 'typing', event: 'typing' });
      // A flood is counted (rate_limited_total), not written line by line: at most one line a second per socket.
      const limitedLines = audits('rate_limited').length;
      for (let i = 0; i < 5; i++) expect((await emitAck(socket, 'typing', { roomId: 'general', typing: true })).error.code).to.equal('rate_limited');
      expect(audits('rate_limited')).to.have.length(limitedLines);

      // password_changed (b's session ends); a wrong current password is a failed login
      const ended = disconnected(socket);
      await a.post('/api/password', { currentPassword: wrong, newPassword: second }).expect(401);
      expect(audits('login_failed').at(-1)).to.include({ user: username, ip, session: aHandle, reason: 'wrong_current_password' });
      const changed = await a.post('/api/password', { currentPassword: first, newPassword: second }).expect(200);
      a.csrf = changed.body.csrfToken as string;
      remember(a);
      await ended; // this session continues on a new id: its old sockets end
      const aNewHandle = await handleOf(a);
      expect(aNewHandle).to.not.equal(aHandle);
      expect(audits('password_changed').at(-1)).to.include({ user: username, ip, session: aNewHandle, count: 1 });

      // session_revoked: one session, then every other one
      const c = new TestClient(server.url);
      await c.login(username, second);
      remember(c);
      const cHandle = await handleOf(c);
      await a.delete(`/api/sessions/${cHandle}`).expect(204);
      expect(audits('session_revoked').at(-1)).to.include({ user: username, ip, session: aNewHandle, target: cHandle, count: 1 });
      const d = new TestClient(server.url);
      await d.login(username, second);
      remember(d);
      await a.post('/api/sessions/revoke-others').expect(204);
      expect(audits('session_revoked').at(-1)).to.include({ user: username, ip, session: aNewHandle, target: 'others', count: 1 });

      // logout
      await a.logout();
      expect(audits('logout').at(-1)).to.include({ user: username, ip, session: aNewHandle });

      // Every audit line: level info, message "audit", and only the contract's kinds of fields.
      const all = lines().filter((l) => 'audit' in l);
      expect(all.length).to.be.at.least(15);
      for (const l of all) {
        expect(l.level, JSON.stringify(l)).to.equal(30);
        expect(l.msg).to.equal('audit');
        if ('session' in l && l.session !== null) expect(l.session).to.match(/^[\w-]{22}$/);
      }
      for (const name of ['register', 'login', 'login_failed', 'logout', 'password_changed', 'session_revoked', 'handshake_refused', 'origin_refused', 'csrf_refused', 'rate_limited']) {
        expect(audits(name), name).to.not.deep.equal([]);
      }

      // The whole log of the run (every level down to trace): none of the secrets it used.
      const output = text.join('');
      expect(output.length).to.be.above(0);
      secrets.delete('');
      expect(secrets.size).to.be.at.least(15);
      const leaked = [...secrets].filter((s) => output.includes(s));
      expect(leaked, 'secrets found in the log').to.deep.equal([]);
      expect(output).to.not.match(/"cookie"|"x-csrf-token"|"_csrf"/i);
    });
  });
}
