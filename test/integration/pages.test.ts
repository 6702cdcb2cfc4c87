import { expect } from 'chai';
import request from 'supertest';
import { BACKENDS, startServer, type TestServer } from '../helpers/server.js';
import { PASSWORD, uniqueName } from '../helpers/client.js';
import { FRIENDLY_SAMPLE, HOSTILE_SAMPLE } from '../helpers/names.js';
import { needs } from '../support/services.js';

/** The hidden `_csrf` field of a rendered form. */
const formToken = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';

for (const backend of BACKENDS) {
  describe(`server-rendered pages, without JavaScript (${backend})`, () => {
    needs(backend);
    let server: TestServer;
    before(async () => {
      server = await startServer(backend);
    });
    after(() => server.close());

    it('sends logged-out visitors to /login and logged-in ones to /chat', async () => {
      await request(server.url).get('/').expect(302).expect('location', '/login');
      await request(server.url).get('/chat').expect(302).expect('location', '/login');
      await request(server.url).get('/settings').expect(302).expect('location', '/login');
    });

    it('registers, signs out and signs in through the forms, with the CSRF field', async () => {
      const agent = request.agent(server.url);
      const username = uniqueName();
      const reg = await agent.get('/register').expect(200);
      expect(reg.headers['content-type']).to.match(/html/);
      await agent
        .post('/register')
        .type('form')
        .send({ _csrf: formToken(reg.text), username, displayName: 'Form User', password: PASSWORD })
        .expect(303)
        .expect('location', '/chat');
      const chat = await agent.get('/chat').expect(200);
      expect(chat.text).to.contain('Form User');
      expect(chat.text).to.contain('data-room-id="general"');

      await agent.post('/logout').type('form').send({ _csrf: formToken(chat.text) }).expect(303).expect('location', '/login');
      await agent.get('/chat').expect(302);

      const login = await agent.get('/login').expect(200);
      await agent
        .post('/login')
        .type('form')
        .send({ _csrf: formToken(login.text), username, password: PASSWORD })
        .expect(303)
        .expect('location', '/chat');
      await agent.get('/chat').expect(200);
    });

    it('shows errors next to the field, and keeps what was typed (never the password)', async () => {
      const agent = request.agent(server.url);
      const page = await agent.get('/register').expect(200);
      const bad = await agent
        .post('/register')
        .type('form')
        .send({ _csrf: formToken(page.text), username: 'No Spaces!', displayName: 'Kept <b>', password: PASSWORD })
        .expect(400);
      expect(bad.text).to.match(/id="username"[^>]*aria-invalid="true"/);
      expect(bad.text).to.contain('data-testid="username-error"');
      expect(bad.text).to.contain('value="Kept &lt;b&gt;"'); // escaped, and kept
      expect(bad.text).to.not.contain(PASSWORD);

      const login = await agent.get('/login').expect(200);
      const wrong = await agent
        .post('/login')
        .type('form')
        .send({ _csrf: formToken(login.text), username: uniqueName(), password: 'not the password' })
        .expect(401);
      expect(wrong.text).to.contain('wrong username or password');
    });

    it('refuses a form post without the CSRF field', async () => {
      const agent = request.agent(server.url);
      await agent.get('/login').expect(200);
      await agent.post('/login').type('form').send({ username: uniqueName(), password: PASSWORD }).expect(403);
    });

    it('saves the display name and the per-device theme from the settings form', async () => {
      const agent = request.agent(server.url);
      const reg = await agent.get('/register');
      await agent.post('/register').type('form').send({ _csrf: formToken(reg.text), username: uniqueName(), password: PASSWORD }).expect(303);
      const settings = await agent.get('/settings').expect(200);
      const saved = await agent
        .post('/settings')
        .type('form')
        .send({ _csrf: formToken(settings.text), displayName: 'New Name', theme: 'dark' })
        .expect(200);
      expect(saved.text).to.contain('data-theme="dark"');
      const me = await agent.get('/api/me').expect(200);
      expect(me.body.user.displayName).to.equal('New Name');
      expect(me.body.prefs).to.deep.equal({ theme: 'dark' });
    });

    it('refuses hostile display names from the settings form (400, saving nothing) and saves friendly ones NFC', async () => {
      const agent = request.agent(server.url);
      const reg = await agent.get('/register');
      await agent
        .post('/register')
        .type('form')
        .send({ _csrf: formToken(reg.text), username: uniqueName(), displayName: 'Before', password: PASSWORD })
        .expect(303);
      const me = async () => (await agent.get('/api/me').expect(200)).body as { user: { displayName: string }; prefs: object };
      const prefsBefore = (await me()).prefs;
      for (const [what, displayName] of HOSTILE_SAMPLE) {
        const settings = await agent.get('/settings').expect(200);
        const refused = await agent.post('/settings').type('form').send({ _csrf: formToken(settings.text), displayName, theme: 'dark' });
        expect(refused.status, what).to.equal(400);
        expect(refused.text, what).to.contain('data-testid="displayName-error"');
        expect(refused.text, what).to.match(/display name (may not contain|must be 1-64)/);
        const now = await me(); // neither the name nor the theme of the same form was saved
        expect(now.user.displayName, what).to.equal('Before');
        expect(now.prefs, what).to.deep.equal(prefsBefore);
      }
      for (const [what, displayName] of FRIENDLY_SAMPLE) {
        const settings = await agent.get('/settings').expect(200);
        await agent.post('/settings').type('form').send({ _csrf: formToken(settings.text), displayName, theme: 'dark' }).expect(200);
        expect((await me()).user.displayName, what).to.equal(displayName.normalize('NFC'));
      }
    });

    it('sends a CSP that allows only its own scripts and styles, and pages with no inline code', async () => {
      const res = await request(server.url).get('/login').expect(200);
      const csp = String(res.headers['content-security-policy']);
      expect(csp).to.contain("script-src 'self'").and.contain("style-src 'self'").and.contain("frame-ancestors 'none'");
      expect(csp).to.not.contain('unsafe-inline');
      expect(res.headers['referrer-policy']).to.equal('same-origin');
      for (const path of ['/login', '/register']) {
        const html = (await request(server.url).get(path)).text;
        expect(html).to.not.match(/<script(?![^>]*\ssrc=)[^>]*>/); // every script has a src
        expect(html).to.not.match(/\sstyle=/);
        expect(html).to.not.match(/\son[a-z]+=/i);
      }
    });
  });
}
