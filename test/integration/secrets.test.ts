import { expect } from 'chai';
import request from 'supertest';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { start, type Started } from '../../src/start.js';
import { createMemoryStores } from '../../src/store/index.js';
import { connectSocket, TestClient } from '../helpers/client.js';

describe('session secret rotation', () => {
  const stores = createMemoryStores(loadConfig({}));
  const log = createLogger('silent');
  const servers: Started[] = [];

  /** An app over the shared stores with the given SESSION_SECRET. */
  async function serve(secret: string) {
    const server = await start(loadConfig({ SESSION_SECRET: secret, LOG_LEVEL: 'silent', PORT: '0' }), { stores, log, announce: false });
    servers.push(server);
    return server.url;
  }

  after(async () => {
    for (const server of servers) await server.close();
    await stores.close();
  });

  it('verifies cookies signed by any listed secret and signs new ones with the first', async () => {
    const oldUrl = await serve('old-secret-0123456789');
    const c = new TestClient(oldUrl);
    await c.register();
    const oldCookie = c.cookie;

    const rotatedUrl = await serve('new-secret-0123456789,old-secret-0123456789');
    await request(rotatedUrl).get('/api/me').set('cookie', oldCookie).expect(200);
    (await connectSocket(rotatedUrl, { headers: { cookie: oldCookie } })).close();

    const newOnlyUrl = await serve('new-secret-0123456789');
    await request(newOnlyUrl).get('/api/me').set('cookie', oldCookie).expect(401);
    const err = await connectSocket(newOnlyUrl, { headers: { cookie: oldCookie } }).then(() => null, (e: Error) => e);
    expect(err?.message).to.equal('unauthorized');

    // A login on the rotated server is signed with the new secret: the new-only server accepts it.
    const fresh = new TestClient(rotatedUrl);
    await fresh.register();
    await request(newOnlyUrl).get('/api/me').set('cookie', fresh.cookie).expect(200);
  });

  it('gives the session cookie no Expires, so it never outlives the browser nor dies before the server session', async () => {
    const url = await serve('any-secret-0123456789');
    const res = await request(url).get('/api/csrf').expect(200);
    const cookie = String(res.headers['set-cookie']);
    expect(cookie).to.match(/^sid=/);
    expect(cookie).to.not.match(/Expires=|Max-Age=/i);
  });

  it('marks the cookie Secure (behind a TLS-terminating proxy) and sends HSTS in production', async () => {
    const { startServer } = await import('../helpers/server.js');
    const server = await startServer('memory', {
      NODE_ENV: 'production',
      SESSION_SECRET: 'a-production-secret-0123456789',
      TRUST_PROXY: '1',
    });
    try {
      // Over plain HTTP a Secure cookie is never sent at all.
      const plain = await request(server.url).get('/api/csrf').expect(200);
      expect(plain.headers['set-cookie']).to.equal(undefined);
      const res = await request(server.url).get('/api/csrf').set('x-forwarded-proto', 'https').expect(200);
      expect(String(res.headers['set-cookie'])).to.match(/;\s*Secure/i).and.match(/HttpOnly/i).and.match(/SameSite=Lax/i);
      expect(res.headers['strict-transport-security']).to.be.a('string');
    } finally {
      await server.close();
    }
  });
});
