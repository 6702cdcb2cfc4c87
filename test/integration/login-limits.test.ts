import { expect } from 'chai';
import request from 'supertest';
import { PASSWORD, TestClient, uniqueName } from '../helpers/client.js';
import { BACKENDS, startServer, type TestServer } from '../helpers/server.js';
import { needs } from '../support/services.js';

/*
 * The failed-login limits (PROTOCOL.md): 10 per username per 15 minutes, 100 per
 * client address per hour; the attempt is counted before the password is
 * checked, so parallel guesses cannot exceed it. A 401 means the password was
 * checked; a 429 means it was not.
 */

/** A fresh cookie jar with its CSRF token, as a separate browser would have. */
async function jar(server: TestServer): Promise<TestClient> {
  const c = new TestClient(server.url);
  await c.fetchCsrf();
  return c;
}

/** One login attempt from its own cookie jar, from client address `ip` (the server trusts X-Forwarded-For from loopback). */
async function attempt(server: TestServer, username: string, password: string, ip = '198.51.100.1'): Promise<number> {
  const c = await jar(server);
  const res = await c.agent.post('/api/login').set('x-csrf-token', c.csrf).set('x-forwarded-for', ip).send({ username, password });
  return res.status;
}

const count = (statuses: number[], status: number) => statuses.filter((s) => s === status).length;

for (const backend of BACKENDS) {
  describe(`failed-login limits under concurrency (${backend})`, function () {
    needs(backend);
    this.timeout(60_000);
    let server: TestServer;
    before(async () => {
      server = await startServer(backend, { TRUST_PROXY: 'loopback' });
    });
    after(() => server.close());

    it('checks at most 10 passwords of a 40-way burst of wrong guesses from separate cookie jars', async () => {
      const victim = new TestClient(server.url);
      const user = await victim.register();
      const statuses = await Promise.all(Array.from({ length: 40 }, () => attempt(server, user.username, 'wrong password!')));
      expect(count(statuses, 401), 'passwords checked').to.equal(10);
      expect(count(statuses, 429), 'refused unchecked').to.equal(30);
      // Locked now, even with the right password.
      expect(await attempt(server, user.username, PASSWORD)).to.equal(429);
    });

    it('answers 429 with Retry-After, and a correct password before the limit resets the count', async () => {
      const c = new TestClient(server.url);
      const user = await c.register();
      for (let i = 0; i < 9; i++) expect(await attempt(server, user.username, 'wrong password!')).to.equal(401);
      expect(await attempt(server, user.username, PASSWORD)).to.equal(200);
      for (let i = 0; i < 10; i++) expect(await attempt(server, user.username, 'wrong password!')).to.equal(401);
      const locked = await jar(server);
      const res = await locked.agent
        .post('/api/login')
        .set('x-csrf-token', locked.csrf)
        .set('x-forwarded-for', '198.51.100.1')
        .send({ username: user.username, password: 'wrong password!' })
        .expect(429);
      expect(res.body.error.code).to.equal('rate_limited');
      expect(Number(res.headers['retry-after'])).to.be.within(1, 15 * 60);
    });

    it('limits failed logins per client address across usernames (password spraying), not other addresses', async () => {
      const sprayer = '203.0.113.7';
      // 100 failures over many usernames (10 each, so no username limit is reached first).
      const names = Array.from({ length: 10 }, () => uniqueName('spray'));
      for (const name of names) {
        const statuses = await Promise.all(Array.from({ length: 10 }, () => attempt(server, name, 'wrong password!', sprayer)));
        expect(count(statuses, 401), name).to.equal(10);
      }
      const victim = new TestClient(server.url);
      const user = await victim.register();
      const statuses = await Promise.all(Array.from({ length: 5 }, () => attempt(server, user.username, 'wrong password!', sprayer)));
      expect(statuses).to.deep.equal([429, 429, 429, 429, 429]);
      // The refusals from the sprayer's address cost the username nothing: elsewhere it still has 10 checks.
      const elsewhere = await Promise.all(Array.from({ length: 11 }, () => attempt(server, user.username, 'wrong password!', '192.0.2.55')));
      expect(count(elsewhere, 401)).to.equal(10);
      expect(count(elsewhere, 429)).to.equal(1);
    });

    it('counts an IPv6 client by its /64, so stepping through addresses does not help', async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 10; i++) {
        const name = uniqueName('v6');
        statuses.push(...(await Promise.all(Array.from({ length: 10 }, (_, j) => attempt(server, name, 'wrong password!', `2001:db8:1:2::${i}:${j}`)))));
      }
      expect(count(statuses, 401)).to.equal(100);
      expect(await attempt(server, uniqueName('v6'), 'wrong password!', '2001:db8:1:2:ffff::1')).to.equal(429);
      expect(await attempt(server, uniqueName('v6'), 'wrong password!', '2001:db8:1:3::1')).to.equal(401);
    });

    it('counts a wrong currentPassword on POST /api/password toward the same limit', async () => {
      const c = new TestClient(server.url);
      const user = await c.register();
      const tries = await Promise.all(
        Array.from({ length: 15 }, () => c.post('/api/password', { currentPassword: 'not my password', newPassword: 'new password 1' }).then((r) => r.status)),
      );
      expect(count(tries, 401), 'current passwords checked').to.equal(10);
      expect(count(tries, 429)).to.equal(5);
      // Now even the right current password is refused, and so is a login.
      await c.post('/api/password', { currentPassword: PASSWORD, newPassword: 'new password 1' }).expect(429);
      expect(await attempt(server, user.username, PASSWORD)).to.equal(429);
      await c.agent.get('/api/me').expect(200); // the session itself is untouched
    });

    it('applies the same limits to the sign-in form', async () => {
      const c = new TestClient(server.url);
      const user = await c.register();
      const form = async () => {
        const page = await request(server.url).get('/login');
        const token = /name="_csrf" value="([^"]+)"/.exec(page.text)![1]!;
        const cookie = page.headers['set-cookie']![0]!.split(';')[0]!;
        return request(server.url)
          .post('/login')
          .set('cookie', cookie)
          .set('x-forwarded-for', '198.51.100.99')
          .type('form')
          .send({ _csrf: token, username: user.username, password: 'wrong password!' });
      };
      const statuses = (await Promise.all(Array.from({ length: 14 }, form))).map((r) => r.status);
      expect(count(statuses, 401)).to.equal(10);
      expect(count(statuses, 429)).to.equal(4);
    });
  });
}
