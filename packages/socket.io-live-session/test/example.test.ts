/**
 * The README's example (examples/passport-chat.js), run as its readers would run
 * it: a child process `node examples/passport-chat.js` on a free port, driven over
 * HTTP (supertest, with a cookie jar) and Socket.IO (socket.io-client, with the
 * session cookie). It imports the package by name, which inside this folder
 * resolves to the package's own dist/: build it first (`npm test` does).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { io, type Socket } from 'socket.io-client';
import request from 'supertest';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const example = fileURLToPath(new URL('../examples/passport-chat.js', import.meta.url));

interface View {
  user: string;
  theme: string | null;
}

/** Starts the example on PORT=0; resolves with the URL it prints once it listens. */
function startExample(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [example], { cwd: packageDir, env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const url = /listening on (http:\/\/\S+)/.exec(stdout)?.[1];
      if (url) resolve({ child, url });
    });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the example exited (${code}) before listening:\n${stdout}${stderr}`)));
  });
}

/** The next `event` on the socket whose payload passes `match`. */
function nextEvent<T>(socket: Socket, event: string, match: (payload: T) => boolean = () => true): Promise<T> {
  return new Promise((resolve) => {
    const on = (payload: T) => {
      if (!match(payload)) return;
      socket.off(event, on);
      resolve(payload);
    };
    socket.on(event, on);
  });
}

describe('the README example (examples/passport-chat.js)', () => {
  let child: ChildProcess;
  let url: string;
  const sockets: Socket[] = [];

  before(async function () {
    if (!existsSync(fileURLToPath(new URL('../dist/index.js', import.meta.url)))) {
      throw new Error('socket.io-live-session is not built: run `npm run build -w socket.io-live-session` first');
    }
    ({ child, url } = await startExample());
  });

  afterEach(() => {
    for (const s of sockets.splice(0)) s.close();
  });

  after(async () => {
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill();
    await exited;
  });

  /** A browser: logs in over HTTP, keeps the cookie, and opens sockets with it. */
  async function logIn() {
    const agent = request.agent(url);
    const res = await agent.post('/login').send({ username: 'alice', password: 'wonderland' }).expect(200);
    expect(res.body).to.deep.equal({ user: 'alice' });
    const cookie = (res.headers['set-cookie'] as unknown as string[]).map((c) => c.split(';')[0]).join('; ');
    return { agent, cookie };
  }

  /** Opens a socket with the cookie; resolves once it has its first `session` event. */
  async function openSocket(cookie: string, transports = ['websocket']) {
    const socket = io(url, { transports, extraHeaders: { cookie }, reconnection: false, forceNew: true });
    sockets.push(socket);
    const view = await new Promise<View>((resolve, reject) => {
      socket.once('session', resolve);
      socket.once('connect_error', reject);
    });
    return { socket, view };
  }

  it('is shown whole in the README', () => {
    const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
    expect(readme).to.include('```js\n' + readFileSync(example, 'utf8') + '```\n');
  });

  it('refuses a socket without a login: connect_error "unauthorized"', async () => {
    const socket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true });
    sockets.push(socket);
    const err = await nextEvent<Error>(socket, 'connect_error');
    expect(err.message).to.equal('unauthorized');
    expect(socket.connected).to.equal(false);
  });

  it('refuses a wrong password over HTTP', async () => {
    await request(url).post('/login').send({ username: 'alice', password: 'guess' }).expect(401);
  });

  it('gives the socket the session, and shows it an HTTP change without reconnecting', async () => {
    const { agent, cookie } = await logIn();
    // The default transports: long-polling first, then the upgrade to WebSocket.
    const { socket, view } = await openSocket(cookie, ['polling', 'websocket']);
    expect(view).to.deep.equal({ user: 'alice', theme: null });
    const id = socket.id;
    let reconnected = false;
    socket.on('disconnect', () => (reconnected = true));

    const seen = nextEvent<View>(socket, 'session', (v) => v.theme === 'dark');
    await agent.post('/theme').send({ theme: 'dark' }).expect(200, { theme: 'dark' });
    expect(await seen).to.deep.equal({ user: 'alice', theme: 'dark' });
    expect(socket.id).to.equal(id);
    expect(reconnected).to.equal(false);
  });

  it('writes the session from the socket (live.update), and HTTP reads the write', async () => {
    const { agent, cookie } = await logIn();
    const { socket } = await openSocket(cookie);
    const ack = (await socket.emitWithAck('theme', 'solarized')) as View;
    expect(ack).to.deep.equal({ user: 'alice', theme: 'solarized' });
    await agent.get('/me').expect(200, { user: 'alice', theme: 'solarized' });
  });

  it('ends the socket at logout: session:ended {reason: "logout"}, then a server-side disconnect', async () => {
    const { agent, cookie } = await logIn();
    const { socket } = await openSocket(cookie);
    const ended = nextEvent<{ reason: string }>(socket, 'session:ended');
    const gone = nextEvent<string>(socket, 'disconnect');
    await agent.post('/logout').expect(200);
    expect(await ended).to.deep.equal({ reason: 'logout' });
    expect(await gone).to.equal('io server disconnect');
    await agent.get('/me').expect(401);

    // The old cookie opens no socket any more.
    const again = io(url, { transports: ['websocket'], extraHeaders: { cookie }, reconnection: false, forceNew: true });
    sockets.push(again);
    expect((await nextEvent<Error>(again, 'connect_error')).message).to.equal('unauthorized');
  });
});
