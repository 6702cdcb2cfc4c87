import { expect } from 'chai';
import type { Socket } from 'socket.io-client';
import { BACKENDS, startServer, type TestServer } from '../helpers/server.js';
import { needs } from '../support/services.js';
import { PASSWORD, TestClient, disconnected, nextEvent, uniqueName } from '../helpers/client.js';

/*
 * /settings without JavaScript: where the user is signed in (one row per session,
 * each other one can be signed out, or all at once) and the password form. Every
 * form posts `_csrf`, redirects after success and shows errors next to the field.
 */

const FIREFOX_WINDOWS = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0';
const SAFARI_IPHONE =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';

/** The hidden `_csrf` field of a rendered form. */
const formToken = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';

/** The session rows of a rendered settings page, in order. */
function rows(html: string) {
  return [...html.matchAll(/<li class="session" data-testid="session-row" data-session-id="([^"]+)"( data-current="true")?>([\s\S]*?)<\/li>/g)].map(
    ([, id, current, body]) => ({ id: id!, current: Boolean(current), body: body! }),
  );
}

type Ended = { reason: string };

for (const backend of BACKENDS) {
  describe(`settings page: sessions and password, without JavaScript (${backend})`, () => {
    needs(backend);
    let server: TestServer;
    const sockets: Socket[] = [];
    before(async () => {
      // A low failed-login limit, so the password form reaches it quickly (each test has its own user).
      server = await startServer(backend, { RATE_LIMITS: 'login=4/900' });
    });
    afterEach(() => {
      for (const s of sockets.splice(0)) s.close();
    });
    after(() => server.close());

    /** A browser (cookie jar) with this User-Agent, signed in as `username` (registered first when `register`). */
    async function browser(userAgent: string | null, username: string, register = false, password = PASSWORD) {
      const c = new TestClient(server.url);
      if (userAgent) c.agent.set('User-Agent', userAgent);
      if (register) await c.register(username, password);
      else await c.login(username, password);
      return c;
    }
    const settings = async (c: TestClient) => (await c.agent.get('/settings').expect(200)).text;
    const live = async (c: TestClient) => {
      const socket = await c.connect();
      sockets.push(socket);
      return socket;
    };

    it('lists where the user is signed in: this device first, the device in words, relative times with the exact one', async () => {
      const name = uniqueName();
      const here = await browser(FIREFOX_WINDOWS, name, true);
      await browser(SAFARI_IPHONE, name);
      await browser(null, name); // a client that sends no User-Agent
      const html = await settings(here);
      const listed = rows(html);
      expect(listed).to.have.length(3);
      expect(listed.map((r) => r.current)).to.deep.equal([true, false, false]);
      expect(listed[0]!.body).to.contain('Firefox on Windows').and.contain('This device');
      expect(listed[0]!.body, 'no sign-out button on this device').to.not.contain('session-revoke');
      const devices = listed.slice(1).map((r) => /<strong>([^<]+)<\/strong>/.exec(r.body)?.[1]);
      expect(devices).to.have.members(['Safari on iPhone', 'Unknown browser']);
      for (const r of listed.slice(1)) {
        expect(r.body).to.contain('data-testid="session-revoke"');
        expect(r.body).to.contain(`action="/settings/sessions/${r.id}/revoke#sessions"`);
      }
      // The same handles as the API's, never a session id.
      const api = (await here.agent.get('/api/sessions').expect(200)).body.sessions as Array<{ id: string }>;
      expect(listed.map((r) => r.id)).to.have.members(api.map((s) => s.id));
      expect(html).to.not.contain(here.cookie.replace(/^sid=s%3A/, '').split('.')[0]);
      // Relative times, each with its ISO 8601 time in datetime and title.
      const times = [...listed[1]!.body.matchAll(/<time datetime="([^"]+)" title="([^"]+)"[^>]*>([^<]+)<\/time>/g)];
      expect(times).to.have.length(2);
      for (const [, datetime, title, text] of times) {
        expect(datetime).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        expect(title).to.equal(datetime);
        expect(text).to.equal('just now');
      }
      expect(html).to.contain('data-testid="revoke-others"');
      expect(html).to.match(/<form method="post" action="\/settings\/password#password" data-testid="password-form"/);
      expect(html).to.match(/name="currentPassword" type="password"/).and.match(/name="newPassword" type="password"/);
    });

    it('"Sign out" on another session ends it at once: its socket gets session:ended, its pages go to sign-in', async () => {
      const name = uniqueName();
      const here = await browser(FIREFOX_WINDOWS, name, true);
      const there = await browser(SAFARI_IPHONE, name);
      const socket = await live(there);
      const ended = nextEvent<Ended>(socket, 'session:ended');
      const page = await settings(here);
      const target = rows(page).find((r) => !r.current)!;
      await here.agent
        .post(`/settings/sessions/${target.id}/revoke`)
        .type('form')
        .send({ _csrf: formToken(page) })
        .expect(303)
        .expect('location', '/settings?done=signed-out#sessions');
      expect((await ended).reason).to.equal('revoked');
      await disconnected(socket);
      await there.agent.get('/settings').expect(302).expect('location', '/login');
      await there.agent.get('/api/me').expect(401);
      const after = (await here.agent.get('/settings?done=signed-out').expect(200)).text;
      expect(rows(after).map((r) => r.current)).to.deep.equal([true]);
      expect(after).to.match(/data-testid="sessions-notice">Signed out of that session\.</);
    });

    it("cannot sign out another user's session, nor one that does not exist (404, the error shown in the list)", async () => {
      const mine = await browser(FIREFOX_WINDOWS, uniqueName(), true);
      const theirs = await browser(SAFARI_IPHONE, uniqueName(), true);
      const theirHandle = rows(await settings(theirs))[0]!.id;
      for (const handle of [theirHandle, 'not-a-handle']) {
        const page = await settings(mine);
        const refused = await mine.agent.post(`/settings/sessions/${handle}/revoke`).type('form').send({ _csrf: formToken(page) }).expect(404);
        expect(refused.text).to.match(/data-testid="sessions-error">That session is not one of yours, or it has already ended\.</);
        expect(rows(refused.text)).to.have.length(1);
      }
      await theirs.agent.get('/api/me').expect(200);
    });

    it('"Sign out everywhere else" ends every other session and keeps this one', async () => {
      const name = uniqueName();
      const here = await browser(FIREFOX_WINDOWS, name, true);
      const others = [await browser(SAFARI_IPHONE, name), await browser(null, name)];
      const endings = [];
      for (const c of others) endings.push(nextEvent<Ended>(await live(c), 'session:ended'));
      const page = await settings(here);
      expect(rows(page)).to.have.length(3);
      await here.agent
        .post('/settings/sessions/revoke-others')
        .type('form')
        .send({ _csrf: formToken(page) })
        .expect(303)
        .expect('location', '/settings?done=signed-out-others#sessions');
      expect((await Promise.all(endings)).map((e) => e.reason)).to.deep.equal(['revoked', 'revoked']);
      for (const c of others) await c.agent.get('/api/me').expect(401);
      const after = (await here.agent.get('/settings?done=signed-out-others').expect(200)).text;
      expect(rows(after).map((r) => r.current)).to.deep.equal([true]);
      expect(after).to.contain('Signed out of every other session.').and.contain('You are signed in on this device only.');
    });

    it('shows password errors next to the field: a wrong current password, a too short new one (never echoing either)', async () => {
      const here = await browser(FIREFOX_WINDOWS, uniqueName(), true);
      let page = await settings(here);
      const wrong = await here.agent
        .post('/settings/password')
        .type('form')
        .send({ _csrf: formToken(page), currentPassword: 'not my password', newPassword: 'a brand new secret' })
        .expect(401);
      expect(wrong.text).to.match(/id="currentPassword"[^>]*aria-invalid="true"/);
      expect(wrong.text).to.match(/data-testid="currentPassword-error">current password is wrong</);
      expect(wrong.text).to.not.contain('not my password').and.not.contain('a brand new secret');
      expect(rows(wrong.text)).to.have.length(1); // the rest of the page is all there

      page = wrong.text;
      const short = await here.agent
        .post('/settings/password')
        .type('form')
        .send({ _csrf: formToken(page), currentPassword: PASSWORD, newPassword: 'short' })
        .expect(400);
      expect(short.text).to.match(/data-testid="newPassword-error">password must be 8-200 characters</);
      expect(short.text).to.not.contain('data-testid="currentPassword-error"');
      // Nothing changed: the old password still signs in.
      await browser(null, here.user!.username);
    });

    it('counts a wrong current password toward the failed-login limit, and says when to try again', async () => {
      const here = await browser(FIREFOX_WINDOWS, uniqueName(), true);
      const attempt = async () => {
        const page = await settings(here);
        return here.agent
          .post('/settings/password')
          .type('form')
          .send({ _csrf: formToken(page), currentPassword: 'a wrong guess', newPassword: 'a brand new secret' });
      };
      for (let i = 0; i < 4; i++) expect((await attempt()).status).to.equal(401);
      const limited = await attempt();
      expect(limited.status).to.equal(429);
      expect(Number(limited.headers['retry-after'])).to.be.greaterThan(0);
      expect(limited.text).to.match(/data-testid="form-error">Too many wrong passwords\. Try again in \d+ minutes?\.</);
      // Still signed in: the limit refuses the attempt, it does not end the session.
      await here.agent.get('/api/me').expect(200);
    });

    it('a password change ends every other session, keeps this browser signed in with a working page, and the new password works', async () => {
      const name = uniqueName();
      const here = await browser(FIREFOX_WINDOWS, name, true);
      const there = await browser(SAFARI_IPHONE, name);
      const ended = nextEvent<Ended>(await live(there), 'session:ended');
      // This device's theme goes with its session to the new id.
      await here.patch('/api/prefs', { theme: 'dark' }).expect(200);
      const before = here.cookie;
      const page = await settings(here);
      await here.agent
        .post('/settings/password')
        .type('form')
        .send({ _csrf: formToken(page), currentPassword: PASSWORD, newPassword: 'a brand new secret' })
        .expect(303)
        .expect('location', '/settings?done=password#password');
      expect((await ended).reason).to.equal('revoked');
      await there.agent.get('/api/me').expect(401);
      expect(here.cookie, 'a new session id').to.not.equal(before);

      const after = (await here.agent.get('/settings?done=password').expect(200)).text;
      expect(after).to.match(/data-testid="password-notice">Password changed\./);
      expect(after).to.contain('data-theme="dark"');
      expect(rows(after).map((r) => r.current)).to.deep.equal([true]);
      // The token of the page after the change is the new session's: its forms work.
      await here.agent.post('/settings/sessions/revoke-others').type('form').send({ _csrf: formToken(after) }).expect(303);
      await here.agent.post('/settings/sessions/revoke-others').type('form').send({ _csrf: formToken(page) }).expect(403);

      await browser(null, name, false, 'a brand new secret');
      const old = new TestClient(server.url);
      await old.fetchCsrf();
      await old.post('/api/login', { username: name, password: PASSWORD }).expect(401);
    });

    it('refuses each form without its CSRF field (403), changing nothing', async () => {
      const name = uniqueName();
      const here = await browser(FIREFOX_WINDOWS, name, true);
      const there = await browser(SAFARI_IPHONE, name);
      const target = rows(await settings(here)).find((r) => !r.current)!;
      await here.agent.post(`/settings/sessions/${target.id}/revoke`).type('form').send({}).expect(403);
      await here.agent.post('/settings/sessions/revoke-others').type('form').send({ _csrf: 'forged' }).expect(403);
      await here.agent
        .post('/settings/password')
        .type('form')
        .send({ currentPassword: PASSWORD, newPassword: 'a brand new secret' })
        .expect(403);
      await there.agent.get('/api/me').expect(200);
      await browser(null, name); // the old password still works
    });

    it('sends signed-out visitors to sign in, from every settings form', async () => {
      const anon = new TestClient(server.url);
      await anon.fetchCsrf();
      for (const path of ['/settings/sessions/x/revoke', '/settings/sessions/revoke-others', '/settings/password']) {
        await anon.agent.post(path).type('form').send({ _csrf: anon.csrf }).expect(302).expect('location', '/login');
      }
    });
  });
}
