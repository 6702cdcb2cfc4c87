import { randomBytes } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { expect } from 'chai';
import request from 'supertest';
import { BACKENDS, startApp, type TestApp } from './helpers/app.js';
import { Browser, closeSockets, RawPolling, refusal } from './helpers/client.js';
import { needs } from '../../../test/support/services.js';

const ALLOWED = 'https://app.example';

/** A WebSocket upgrade request; resolves with 101 when upgraded, else the HTTP status of the refusal. */
function upgrade(url: string, path: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(new URL(path, url), {
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
        ...headers,
      },
    });
    req.on('upgrade', (_res, socket) => {
      socket.destroy();
      resolve(101);
    });
    req.on('response', (res: IncomingMessage) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

/** The headers a request carries besides the cookie, and whether the policy lets it through. */
interface Case {
  name: string;
  headers: (app: TestApp) => Record<string, string>;
  allowed: boolean;
}
const CASES: Case[] = [
  { name: 'a foreign Origin', headers: () => ({ origin: 'http://evil.example' }), allowed: false },
  { name: 'Origin: null', headers: () => ({ origin: 'null' }), allowed: false },
  { name: 'the own host on another scheme', headers: (app) => ({ origin: app.origin.replace('http:', 'https:') }), allowed: false },
  { name: 'the own host on another port', headers: (app) => ({ origin: app.origin.replace(/:\d+$/, ':1') }), allowed: false },
  { name: 'an allowed origin with a path', headers: () => ({ origin: `${ALLOWED}/` }), allowed: false },
  { name: 'Sec-Fetch-Site: cross-site without Origin', headers: () => ({ 'sec-fetch-site': 'cross-site' }), allowed: false },
  { name: 'a foreign Origin with Sec-Fetch-Site: same-origin', headers: () => ({ origin: 'http://evil.example', 'sec-fetch-site': 'same-origin' }), allowed: false },
  { name: 'the server\'s own origin', headers: (app) => ({ origin: app.origin }), allowed: true },
  { name: 'an origin of `origins`', headers: () => ({ origin: ALLOWED }), allowed: true },
  { name: 'an origin of `origins` with Sec-Fetch-Site: cross-site', headers: () => ({ origin: ALLOWED, 'sec-fetch-site': 'cross-site' }), allowed: true },
  { name: 'no Origin at all', headers: () => ({}), allowed: true },
  { name: 'no Origin, Sec-Fetch-Site: same-origin', headers: () => ({ 'sec-fetch-site': 'same-origin' }), allowed: true },
];

for (const backend of BACKENDS) {
  describe(`the origin policy on every Engine.IO request (${backend})`, function () {
    needs(backend);
    let app: TestApp;
    let b: Browser;
    before(async () => {
      app = await startApp(backend, { live: { origins: [ALLOWED] } });
      b = new Browser(app.url);
      await b.login();
    });
    afterEach(closeSockets);
    after(() => app.close());

    for (const c of CASES) {
      const expected = c.allowed ? 'passes' : 'is refused, even with a valid cookie';
      it(`${c.name}: ${expected}`, async () => {
        const headers = { cookie: b.cookie, ...c.headers(app) };
        const ok = (status: number, good: number) => (c.allowed ? status === good : status === 400);

        // The polling handshake.
        const handshake = await request(app.url).get('/socket.io/?EIO=4&transport=polling').set(headers);
        expect(ok(handshake.status, 200), `polling handshake: ${handshake.status} ${handshake.text}`).to.equal(true);

        // Later requests of a connection opened from no Origin: polls, sends, the upgrade.
        const raw = await RawPolling.open(app.url, { cookie: b.cookie });
        expect(ok(await raw.send('40', c.headers(app)), 200), 'a later POST').to.equal(true);
        const polled = await raw.poll(c.headers(app));
        expect(ok(polled.status, 200), `a later poll: ${polled.status}`).to.equal(true);
        const upgraded = await upgrade(app.url, `/socket.io/?EIO=4&transport=websocket&sid=${raw.sid}`, headers);
        expect(ok(upgraded, 101), `the upgrade of a polling connection: ${upgraded}`).to.equal(true);

        // A websocket from the start.
        const direct = await upgrade(app.url, '/socket.io/?EIO=4&transport=websocket', headers);
        expect(ok(direct, 101), `a websocket handshake: ${direct}`).to.equal(true);
      });
    }

    for (const transport of ['websocket', 'polling']) {
      it(`a Socket.IO client (${transport}) from a foreign origin cannot connect; from the own origin it can`, async () => {
        const foreign = await refusal(b.connect({ transports: [transport], headers: { origin: 'http://evil.example' } }));
        expect(foreign).to.not.equal('connected');
        expect(foreign).to.not.equal('unauthorized'); // refused before any session was looked at
        await b.connect({ transports: [transport], headers: { origin: app.origin } });
        await b.connect({ transports: [transport], headers: { origin: ALLOWED } });
      });
    }

    it('exposes the same policy for HTTP routes (live.origins)', () => {
      const fake = (headers: Record<string, string>) => ({ headers: { host: new URL(app.url).host, ...headers }, socket: {} }) as unknown as IncomingMessage;
      const { verdict, isAllowed } = app.live.origins;
      expect(verdict(fake({ origin: app.origin }))).to.equal('same-origin');
      expect(verdict(fake({ origin: ALLOWED }))).to.equal('allowed');
      expect(verdict(fake({}))).to.equal('no-origin');
      expect(verdict(fake({ origin: 'http://evil.example' }))).to.equal('foreign-origin');
      expect(verdict(fake({ 'sec-fetch-site': 'cross-site' }))).to.equal('cross-site');
      expect(['same-origin', 'allowed', 'no-origin'].every((v) => isAllowed(v as never))).to.equal(true);
      expect(['foreign-origin', 'cross-site'].some((v) => isAllowed(v as never))).to.equal(false);
      expect([...app.live.origins.allowed]).to.deep.equal([ALLOWED]);
    });
  });
}
