/**
 * The client side of the tests: a browser-like cookie holder over supertest, Socket.IO
 * clients that record how they ended, a raw Engine.IO polling connection, and waits.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import { io as connectClient, type ManagerOptions, type Socket as ClientSocket, type SocketOptions } from 'socket.io-client';
import request from 'supertest';
import { COOKIE, PASSWORD } from './app.js';

/** A cookie express-session accepts for `sid` when signed with its secret. */
export const signedCookie = (sid: string, secret: string) =>
  `${COOKIE}=${encodeURIComponent(`s:${sid}.${createHmac('sha256', secret).update(sid).digest('base64').replace(/=+$/, '')}`)}`;

export const uniqueUser = (base = 'u') => `${base}-${randomBytes(5).toString('hex')}`;

/** Session fields as the tests read and write them (the package's types are express-session's SessionData). */
export type Fields = Record<string, unknown>;

/** A live.update function that sets these keys. */
export const assign = (values: Fields) => (draft: object) => void Object.assign(draft, values);

/** A live.update function that deletes this key. */
export const unset = (key: string) => (draft: object) => void delete (draft as Fields)[key];

/** Waits (polling) until `check` returns something truthy, and returns it. */
export async function waitFor<T>(check: () => T | Promise<T>, what: string, timeoutMs = 15_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** One browser: its session cookie, kept from response to response. */
export class Browser {
  cookie = '';

  constructor(readonly url: string) {}

  private keep(res: request.Response) {
    const set = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
    const ours = set.find((c) => c.startsWith(`${COOKIE}=`));
    if (ours) this.cookie = ours.split(';')[0]!;
    return res;
  }

  async get(path: string) {
    const req = request(this.url).get(path);
    if (this.cookie) req.set('cookie', this.cookie);
    return this.keep(await req);
  }

  async post(path: string, body: object = {}) {
    const req = request(this.url).post(path);
    if (this.cookie) req.set('cookie', this.cookie);
    return this.keep(await req.send(body));
  }

  async login(username = uniqueUser()) {
    const res = await this.post('/login', { username, password: PASSWORD });
    expect(res.status, `login: ${res.text}`).to.equal(200);
    return username;
  }

  /** The session id inside the signed cookie (what a store keys the record by). */
  get sessionId(): string {
    const value = decodeURIComponent(this.cookie.slice(COOKIE.length + 1));
    return value.slice(2, value.lastIndexOf('.'));
  }

  /** The session data over HTTP: {user, data} (data without the cookie). */
  async me(): Promise<{ user: string | null; data: Record<string, unknown> }> {
    const res = await this.get('/me');
    expect(res.status, res.text).to.equal(200);
    return res.body as { user: string | null; data: Record<string, unknown> };
  }

  connect(opts: SocketOpts = {}) {
    return openSocket(this.url, { ...opts, headers: { ...(this.cookie && { cookie: this.cookie }), ...opts.headers } });
  }
}

type SocketOpts = Partial<ManagerOptions & SocketOptions> & { headers?: Record<string, string> };

/** What a client socket went through. */
export interface SocketRecord {
  ended: Array<{ reason: string }>;
  /** The `session` events the app sent on each change. */
  sessions: Fields[];
  disconnect: string | undefined;
}
const records = new WeakMap<ClientSocket, SocketRecord>();
const open = new Set<ClientSocket>();

export const recordOf = (s: ClientSocket) => records.get(s)!;

/** A connected client socket; rejects with the connect_error. Closed by closeSockets(). */
export function openSocket(url: string, opts: SocketOpts = {}): Promise<ClientSocket> {
  const { headers, ...rest } = opts;
  const s = connectClient(url, { forceNew: true, reconnection: false, transports: ['websocket'], extraHeaders: headers, ...rest });
  const rec: SocketRecord = { ended: [], sessions: [], disconnect: undefined };
  records.set(s, rec);
  open.add(s);
  s.on('session:ended', (e: { reason: string }) => rec.ended.push(e));
  s.on('session', (snapshot: Fields) => rec.sessions.push(snapshot));
  s.on('disconnect', (reason) => (rec.disconnect = reason));
  return new Promise((resolve, reject) => {
    s.once('connect', () => resolve(s));
    s.once('connect_error', (err) => {
      s.close();
      reject(err);
    });
  });
}

/** The connect_error message of a socket that must not connect. */
export async function refusal(attempt: Promise<ClientSocket>): Promise<string> {
  return attempt.then(
    () => 'connected',
    (err: Error) => err.message,
  );
}

export function closeSockets() {
  for (const s of open) s.close();
  open.clear();
}

/** Resolves once the server ended this socket; asserts it was told why and disconnected by the server. */
export async function expectEnded(s: ClientSocket, reason: string, timeoutMs = 15_000) {
  const rec = recordOf(s);
  await waitFor(() => rec.disconnect, `the socket to be ended (${reason})`, timeoutMs);
  expect(rec.ended, 'session:ended events').to.deep.equal([{ reason }]);
  expect(rec.disconnect, 'disconnect reason').to.equal('io server disconnect');
}

/** The session as the server's live view has it, asked over the socket: proves the socket still works. */
export async function whoami(s: ClientSocket): Promise<Record<string, unknown> | null> {
  return (await s.timeout(5000).emitWithAck('whoami')) as Record<string, unknown> | null;
}

export async function expectAlive(s: ClientSocket) {
  const rec = recordOf(s);
  expect(rec.ended, 'session:ended events').to.deep.equal([]);
  expect(s.connected, 'connected').to.equal(true);
  expect(await whoami(s), 'its session').to.not.equal(null);
}

/** A raw Engine.IO v4 long-polling connection: the handshake, then packets by hand. */
export class RawPolling {
  private constructor(
    private readonly url: string,
    private readonly headers: Record<string, string>,
    readonly sid: string,
  ) {}

  private static with(req: request.Test, headers: Record<string, string>) {
    for (const [k, v] of Object.entries(headers)) req.set(k, v);
    return req;
  }

  /** The Engine.IO handshake only (the session is loaded, no Socket.IO CONNECT yet). */
  static async open(url: string, headers: Record<string, string>): Promise<RawPolling> {
    const res = await RawPolling.with(request(url).get('/socket.io/?EIO=4&transport=polling'), headers);
    expect(res.status, `handshake: ${res.text}`).to.equal(200);
    const m = /^0(\{.*\})$/.exec(res.text);
    expect(m, `open packet: ${res.text}`).to.not.equal(null);
    return new RawPolling(url, headers, (JSON.parse(m![1]!) as { sid: string }).sid);
  }

  private path() {
    return `/socket.io/?EIO=4&transport=polling&sid=${this.sid}`;
  }

  /** Sends packets; resolves with the HTTP status. */
  async send(packet: string, headers: Record<string, string> = {}) {
    const res = await RawPolling.with(request(this.url).post(this.path()), { ...this.headers, ...headers }).type('text/plain').send(packet);
    return res.status;
  }

  /** One poll: its status and packets. */
  async poll(headers: Record<string, string> = {}): Promise<{ status: number; packets: string[] }> {
    const res = await RawPolling.with(request(this.url).get(this.path()), { ...this.headers, ...headers });
    return { status: res.status, packets: res.text.split('\x1e') };
  }
}

/** Sends socket events (activity), each acknowledged, every `everyMs` for `forMs`. */
export async function keepBusy(s: ClientSocket, forMs: number, everyMs = 200) {
  for (const until = Date.now() + forMs; Date.now() < until; await sleep(everyMs)) {
    expect(await s.timeout(5000).emitWithAck('activity')).to.equal(true);
  }
}

/** The error a promise rejects with, or null when it resolves. */
export const rejection = (p: Promise<unknown>): Promise<Error | null> =>
  p.then(
    () => null,
    (e: Error) => e,
  );
