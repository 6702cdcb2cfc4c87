import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { keepUpgradeRequestsFast, type EngineLike } from '../src/engine.js';
import { useApps } from './helpers/suite.js';
import { Browser } from './helpers/client.js';

/** V8's own answer to "is this object still a fast one?" (natives syntax, enabled for this test file). */
setFlagsFromString('--allow-natives-syntax');
const hasFastProperties = new Function('o', 'return %HasFastProperties(o)') as (o: object) => boolean;

/** A raw WebSocket upgrade of an Engine.IO handshake: the 101 response's headers (the socket is closed at once). */
function upgrade(url: string, cookie: string): Promise<IncomingMessage['headers']> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}/socket.io/?EIO=4&transport=websocket`, {
      headers: {
        cookie,
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': randomBytes(16).toString('base64'),
      },
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve(res.headers);
    });
    req.on('response', (res) => reject(new Error(`no upgrade: HTTP ${res.statusCode}`)));
    req.on('error', reject);
    req.end();
  });
}

describe('engine: WebSocket upgrade requests stay fast objects (engine.ts)', () => {
  const start = useApps('memory');

  it("keeps a socket's handshake request out of dictionary mode, the server attached before it listened", async () => {
    // startApp attaches, then listens: engine.io makes its WebSocket server anew on `listening`.
    const app = await start();
    const b = new Browser(app.url);
    await b.login();
    const s = await b.connect({ transports: ['websocket'] });
    const req = app.serverSocket(s).request;
    // Without engine.ts, engine.io's `delete` of its header stash turned every such request into a dictionary.
    expect(hasFastProperties(req), 'the handshake request has fast properties').to.equal(true);
  });

  it('still writes the headers handshake middleware set into the 101 response, and announces them as engine.io does', async () => {
    const app = await start({
      handshake: [
        (_req: unknown, res: { setHeader(name: string, value: string): void }, next: () => void) => {
          res.setHeader('x-live-probe', 'set by a middleware');
          next();
        },
      ] as never,
    });
    const initial: Array<Record<string, unknown>> = [];
    const every: Array<Record<string, unknown>> = [];
    app.io.engine.on('initial_headers', (headers: Record<string, unknown>) => initial.push({ ...headers }));
    app.io.engine.on('headers', (headers: Record<string, unknown>) => {
      every.push({ ...headers });
      headers['x-added-by-listener'] = 'yes'; // what engine.io's own `headers` event allows
    });
    const b = new Browser(app.url);
    await b.login();
    const headers = await upgrade(app.url, b.cookie);
    expect(headers['x-live-probe']).to.equal('set by a middleware');
    expect(headers['x-added-by-listener']).to.equal('yes');
    expect(initial).to.deep.equal([{ 'x-live-probe': 'set by a middleware' }]);
    expect(every).to.have.length(1);
  });

  it('replaces only the listener it recognises, in its place, and changes nothing otherwise', () => {
    const emitted: unknown[][] = [];
    const ws = new EventEmitter();
    const before = () => undefined;
    const after = () => undefined;
    const engine: EngineLike = {
      ws: ws as unknown as EngineLike['ws'],
      emit: (...args: unknown[]) => emitted.push(args) > 0,
    };

    // No WebSocket server (the websocket transport is off), or a listener of another shape: nothing to do.
    expect(keepUpgradeRequestsFast({ emit: engine.emit })).to.equal(false);
    ws.on('headers', before);
    const foreign = (headers: string[], req: { x?: unknown }) => void (headers.length + Number(req.x));
    ws.on('headers', foreign);
    expect(keepUpgradeRequestsFast(engine)).to.equal(false);
    expect(ws.listeners('headers')).to.deep.equal([before, foreign]);

    // engine.io 6's listener (its source is what is recognised), between two of the app's own.
    ws.removeAllListeners('headers');
    const kResponseHeaders = Symbol('responseHeaders');
    const engineIos = (headersArray: string[], req: { [kResponseHeaders]?: Record<string, string>; _query: { sid?: string } }) => {
      const additionalHeaders = req[kResponseHeaders] || {};
      delete req[kResponseHeaders];
      if (!req._query.sid) engine.emit('initial_headers', additionalHeaders, req);
      engine.emit('headers', additionalHeaders, req);
      for (const key of Object.keys(additionalHeaders)) headersArray.push(`${key}: ${additionalHeaders[key]}`);
    };
    ws.on('headers', before);
    ws.on('headers', engineIos);
    ws.on('headers', after);
    expect(keepUpgradeRequestsFast(engine)).to.equal(true);
    const [first, replaced, last] = ws.listeners('headers');
    expect([first, last]).to.deep.equal([before, after]);
    expect(replaced).to.not.equal(engineIos);

    const handshake = { _query: {}, [kResponseHeaders]: { 'x-a': '1' } };
    const lines: string[] = [];
    ws.emit('headers', lines, handshake);
    expect(lines).to.deep.equal(['x-a: 1']);
    expect(Object.getOwnPropertySymbols(handshake)).to.include(kResponseHeaders); // overwritten, not deleted
    expect(handshake[kResponseHeaders]).to.equal(undefined);
    expect(emitted.map(([event]) => event)).to.deep.equal(['initial_headers', 'headers']);

    // An upgrade of an open connection (it has a sid): `headers` only.
    emitted.length = 0;
    ws.emit('headers', [], { _query: { sid: 'abc' }, [kResponseHeaders]: {} });
    expect(emitted.map(([event]) => event)).to.deep.equal(['headers']);
  });
});
