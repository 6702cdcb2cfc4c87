import { expect } from 'chai';
import type { Room } from '../../src/chat/types.js';
import { ChatHarness, uniqueRoomId } from '../helpers/chat.js';
import { PASSWORD, TestClient, uniqueName } from '../helpers/client.js';
import { FRIENDLY_SAMPLE, HOSTILE_SAMPLE } from '../helpers/names.js';
import { BACKENDS } from '../helpers/server.js';
import { needs } from '../support/services.js';

/*
 * The name rule (src/chat/names.ts) at every JSON door that takes a name, on
 * both backends: a hostile name is 400 bad_request and leaves nothing behind;
 * a friendly one is stored, and answered, in its NFC form. (The no-JavaScript
 * /settings form is in pages.test.ts.)
 */

type ErrorBody = { error: { code: string; message: string } };

function expectRefused(res: { status: number; body: ErrorBody }, field: string, what: string) {
  expect(res.status, what).to.equal(400);
  expect(res.body.error.code, what).to.equal('bad_request');
  expect(res.body.error.message, what).to.match(new RegExp(`^${field}: .*(may not contain|must be 1-64)`));
}

for (const backend of BACKENDS) {
  describe(`display names and room names (${backend})`, () => {
    needs(backend);
    const h = new ChatHarness(backend);
    before(() => h.start());
    after(() => h.stop());

    const storedUser = (username: string) => h.server.stores.users.findByUsername(username);

    it('POST /api/register: refuses hostile display names and creates no user; stores friendly ones NFC', async () => {
      for (const [what, displayName] of HOSTILE_SAMPLE) {
        const c = new TestClient(h.url);
        await c.fetchCsrf();
        const username = uniqueName();
        expectRefused(await c.post('/api/register', { username, password: PASSWORD, displayName }), 'displayName', what);
        expect(await storedUser(username), what).to.equal(null);
        await c.agent.get('/api/me').expect(401);
      }
      for (const [what, displayName] of FRIENDLY_SAMPLE) {
        const c = new TestClient(h.url);
        const user = await c.register(undefined, undefined, displayName);
        expect(user.displayName, what).to.equal(displayName.normalize('NFC'));
        expect((await c.agent.get('/api/me').expect(200)).body.user.displayName, what).to.equal(displayName.normalize('NFC'));
        expect((await storedUser(user.username))?.displayName, what).to.equal(displayName.normalize('NFC'));
      }
    });

    it('PATCH /api/me: refuses hostile display names and keeps the old one; stores friendly ones NFC', async () => {
      const c = await h.user('Before');
      for (const [what, displayName] of HOSTILE_SAMPLE) {
        expectRefused(await c.patch('/api/me', { displayName }), 'displayName', what);
        expect((await c.agent.get('/api/me').expect(200)).body.user.displayName, what).to.equal('Before');
        expect((await storedUser(c.user.username))?.displayName, what).to.equal('Before');
      }
      for (const [what, displayName] of FRIENDLY_SAMPLE) {
        const res = await c.patch('/api/me', { displayName }).expect(200);
        expect(res.body.user.displayName, what).to.equal(displayName.normalize('NFC'));
        expect((await c.agent.get('/api/me').expect(200)).body.user.displayName, what).to.equal(displayName.normalize('NFC'));
      }
    });

    it('POST /api/rooms: refuses hostile room names and creates no room; stores friendly ones NFC', async () => {
      const c = await h.user();
      const listed = async () => ((await c.agent.get('/api/rooms').expect(200)).body.rooms as Room[]).map((r) => [r.id, r.name]);
      for (const [what, name] of HOSTILE_SAMPLE) {
        const id = uniqueRoomId();
        expectRefused(await c.post('/api/rooms', { id, name }), 'name', what);
        expect(await h.server.stores.chat.getRoom(id), what).to.equal(null);
        expect((await listed()).map(([roomId]) => roomId), what).to.not.include(id);
      }
      for (const [what, name] of FRIENDLY_SAMPLE) {
        const id = uniqueRoomId();
        const res = await c.post('/api/rooms', { id, name }).expect(201);
        expect(res.body.room.name, what).to.equal(name.normalize('NFC'));
        expect(await listed(), what).to.deep.include([id, name.normalize('NFC')]);
      }
    });
  });
}
