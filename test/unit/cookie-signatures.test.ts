import { expect } from 'chai';
import { createHmac } from 'node:crypto';
import { createRequire } from 'node:module';
import request from 'supertest';
import { rememberVerifiedSignatures, type CookieSignature } from '../../src/security/cookie-signatures.js';
import { connectSocket, TestClient } from '../helpers/client.js';
import { startServer } from '../helpers/server.js';

/*
 * express-session checks a session cookie's signature once (security/cookie-signatures.ts):
 * what must hold is that nothing is accepted that the HMAC would refuse, whatever was
 * remembered before, and that express-session really goes through it.
 */

const require = createRequire(import.meta.url);
const SECRET = 'a-secret-0123456789';
const OTHER = 'another-secret-0123456789';

/** cookie-signature's signing, written out here so that no test depends on the module the server may have wrapped. */
const sign = (value: string, secret: string | Buffer) => `${value}.${createHmac('sha256', secret).update(value).digest('base64').replace(/=+$/, '')}`;

/** A cookie-signature module of its own (cookie-signature's unsign) that counts the checks that reach it. */
function counting() {
  const calls = { n: 0 };
  const module: CookieSignature = {
    unsign(input, secret) {
      calls.n++;
      const value = input.slice(0, input.lastIndexOf('.'));
      return input === sign(value, secret as string | Buffer) ? value : false;
    },
  };
  return { module, calls };
}

describe('cookie signatures checked once', () => {
  it('answers a cookie that verified without checking it again', () => {
    const { module, calls } = counting();
    rememberVerifiedSignatures(module);
    const cookie = sign('session-id-1', SECRET);
    expect(module.unsign(cookie, SECRET)).to.equal('session-id-1');
    expect(module.unsign(cookie, SECRET)).to.equal('session-id-1');
    expect(module.unsign(cookie, SECRET)).to.equal('session-id-1');
    expect(calls.n).to.equal(1);
  });

  it('checks, and refuses, a forged or tampered cookie every time, even of a value it remembers', () => {
    const { module, calls } = counting();
    rememberVerifiedSignatures(module);
    const good = sign('session-id-2', SECRET);
    expect(module.unsign(good, SECRET)).to.equal('session-id-2');
    const tampered = good.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'));
    const forged = sign('session-id-2', 'not-the-secret');
    for (const bad of [tampered, forged, 'session-id-2', `${good}x`, 'session-id-2.']) {
      calls.n = 0;
      expect(module.unsign(bad, SECRET), bad).to.equal(false);
      expect(module.unsign(bad, SECRET), bad).to.equal(false);
      expect(calls.n, `${bad}: checked each time`).to.equal(2);
    }
  });

  it('remembers a cookie for the secret it verified with only', () => {
    const { module } = counting();
    rememberVerifiedSignatures(module);
    const cookie = sign('session-id-3', SECRET);
    expect(module.unsign(cookie, SECRET)).to.equal('session-id-3');
    expect(module.unsign(cookie, OTHER)).to.equal(false);
    // Rotation: a cookie signed with the older secret, as express-session tries each in turn.
    const old = sign('session-id-4', OTHER);
    expect(module.unsign(old, SECRET)).to.equal(false);
    expect(module.unsign(old, OTHER)).to.equal('session-id-4');
    expect(module.unsign(old, SECRET)).to.equal(false);
  });

  it('checks every time with a secret that is not a string (a Buffer)', () => {
    const { module, calls } = counting();
    rememberVerifiedSignatures(module);
    const key = Buffer.from(SECRET);
    const cookie = sign('session-id-5', key);
    expect(module.unsign(cookie, key)).to.equal('session-id-5');
    expect(module.unsign(cookie, key)).to.equal('session-id-5');
    expect(calls.n).to.equal(2);
  });

  it('keeps at most `max` cookies a secret, forgetting the oldest first', () => {
    const { module, calls } = counting();
    const remembered = rememberVerifiedSignatures(module, 2);
    const [a, b, c] = ['id-a', 'id-b', 'id-c'].map((id) => sign(id, SECRET));
    for (const cookie of [a, b, c]) module.unsign(cookie!, SECRET);
    expect(remembered.get(SECRET)?.size).to.equal(2);
    calls.n = 0;
    expect(module.unsign(c!, SECRET)).to.equal('id-c');
    expect(module.unsign(b!, SECRET)).to.equal('id-b');
    expect(calls.n, 'b and c remembered').to.equal(0);
    expect(module.unsign(a!, SECRET)).to.equal('id-a');
    expect(calls.n, 'a, the oldest, forgotten').to.equal(1);
  });

  it('wraps a module once, however often it is asked', () => {
    const { module, calls } = counting();
    const first = rememberVerifiedSignatures(module);
    const wrapped = module.unsign;
    expect(rememberVerifiedSignatures(module)).to.equal(first);
    expect(module.unsign).to.equal(wrapped);
    module.unsign(sign('id-once', SECRET), SECRET);
    expect(calls.n).to.equal(1);
  });

  it("is what the server's express-session checks with: one HMAC for a cookie over HTTP requests and socket handshakes", async function () {
    const crypto = require('node:crypto') as { createHmac: (...args: unknown[]) => unknown };
    const server = await startServer('memory');
    const createHmac = crypto.createHmac;
    let hmacs = 0;
    try {
      const client = new TestClient(server.url);
      await client.register();
      // Counted from here: cookie-signature calls crypto.createHmac off the module at each check.
      crypto.createHmac = (...args: unknown[]) => {
        hmacs++;
        return createHmac.apply(crypto, args);
      };
      for (let i = 0; i < 3; i++) await request(server.url).get('/api/me').set('cookie', client.cookie).expect(200);
      const sockets = [];
      for (let i = 0; i < 3; i++) sockets.push(await connectSocket(server.url, { headers: { cookie: client.cookie } }));
      for (const s of sockets) s.close();
      expect(hmacs, 'the cookie, checked after its login once at most').to.be.at.most(1);
      // A tampered copy is still checked, and refused, every time.
      const tampered = client.cookie.replace(/(sid=s%3A[^.]+\.)(.)/, (_m, head: string, c: string) => head + (c === 'A' ? 'B' : 'A'));
      expect(tampered).to.not.equal(client.cookie);
      hmacs = 0;
      await request(server.url).get('/api/me').set('cookie', tampered).expect(401);
      await request(server.url).get('/api/me').set('cookie', tampered).expect(401);
      expect(hmacs).to.be.at.least(2);
    } finally {
      crypto.createHmac = createHmac;
      await server.close();
    }
  });
});
