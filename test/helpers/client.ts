import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { io as ioClient, type Socket, type ManagerOptions, type SocketOptions } from 'socket.io-client';
import type { User } from '../../src/chat/types.js';
import type { SessionView } from '../../src/realtime/events.js';

export const uniqueName = (base = 'u') => `${base}_${randomBytes(5).toString('hex')}`;
export const PASSWORD = 'correct horse battery';

type Agent = ReturnType<typeof request.agent>;

/** One browser-like HTTP client (cookie jar + CSRF token) against a test server. */
export class TestClient {
  readonly agent: Agent;
  csrf = '';
  user: User | undefined;

  constructor(readonly url: string) {
    this.agent = request.agent(url);
  }

  /** The `sid` cookie as a Cookie header value ('' when there is none). */
  get cookie(): string {
    const jar = (this.agent as unknown as { jar: { getCookie(name: string, info: unknown): { value: string } | undefined } }).jar;
    const c = jar.getCookie('sid', { domain: '127.0.0.1', path: '/', secure: false, script: false });
    return c ? `sid=${c.value}` : '';
  }

  async fetchCsrf() {
    const res = await this.agent.get('/api/csrf').expect(200);
    this.csrf = res.body.csrfToken as string;
    return this.csrf;
  }

  post(path: string, body?: object) {
    return this.agent.post(path).set('x-csrf-token', this.csrf).send(body ?? {});
  }
  patch(path: string, body?: object) {
    return this.agent.patch(path).set('x-csrf-token', this.csrf).send(body ?? {});
  }
  delete(path: string) {
    return this.agent.delete(path).set('x-csrf-token', this.csrf);
  }

  async register(username = uniqueName(), password = PASSWORD, displayName?: string): Promise<User> {
    if (!this.csrf) await this.fetchCsrf();
    const res = await this.post('/api/register', { username, password, displayName }).expect(201);
    this.csrf = res.body.csrfToken as string;
    this.user = res.body.user as User;
    return this.user;
  }

  async login(username: string, password = PASSWORD): Promise<User> {
    if (!this.csrf) await this.fetchCsrf();
    const res = await this.post('/api/login', { username, password }).expect(200);
    this.csrf = res.body.csrfToken as string;
    this.user = res.body.user as User;
    return this.user;
  }

  async logout() {
    await this.post('/api/logout').expect(204);
  }

  /** A socket.io-client with this client's cookie; resolves when connected. */
  connect(opts: Partial<ManagerOptions & SocketOptions> & { headers?: Record<string, string> } = {}): Promise<Socket> {
    return connectSocket(this.url, { ...opts, headers: { cookie: this.cookie, ...opts.headers } });
  }
}

export function socketFor(url: string, opts: Partial<ManagerOptions & SocketOptions> & { headers?: Record<string, string> } = {}): Socket {
  const { headers, ...rest } = opts;
  return ioClient(url, {
    forceNew: true,
    reconnection: false,
    transports: ['websocket'],
    extraHeaders: headers,
    ...rest,
  });
}

/** Connects; rejects with the connect_error's message. */
export function connectSocket(url: string, opts: Parameters<typeof socketFor>[1] = {}): Promise<Socket> {
  const socket = socketFor(url, opts);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error('connect timed out'));
    }, 5000);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('connect_error', (err) => {
      clearTimeout(timer);
      socket.close();
      reject(err);
    });
  });
}

/** Resolves with the first payload of `event`, or rejects after `ms`. */
export function nextEvent<T = unknown>(socket: Socket, event: string, ms = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event, on);
      reject(new Error(`no "${event}" within ${ms} ms`));
    }, ms);
    const on = (payload: T) => {
      clearTimeout(timer);
      resolve(payload);
    };
    socket.once(event, on);
  });
}

/** Emits with an acknowledgement; rejects if none comes within `ms`. */
export function emitAck<T = any>(socket: Socket, event: string, payload?: unknown, ms = 5000): Promise<T> {
  return socket.timeout(ms).emitWithAck(event, payload) as Promise<T>;
}

/** Resolves true if `event` arrives within `ms`, false otherwise (for "nothing happens" checks). */
export function arrivesWithin(socket: Socket, event: string, ms: number): Promise<boolean> {
  return nextEvent(socket, event, ms).then(
    () => true,
    () => false,
  );
}

/** Waits until the socket is disconnected (by the server), resolving with the reason. */
export function disconnected(socket: Socket, ms = 5000): Promise<string> {
  if (socket.disconnected) return Promise.resolve('already');
  return nextEvent<string>(socket, 'disconnect', ms);
}

/** The first `event` whose payload satisfies `pred`; rejects after `ms`. */
export function eventWhere<T = unknown>(socket: Socket, event: string, pred: (p: T) => boolean, ms = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event, on);
      reject(new Error(`no matching "${event}" within ${ms} ms`));
    }, ms);
    const on = (p: T) => {
      if (!pred(p)) return;
      clearTimeout(timer);
      socket.off(event, on);
      resolve(p);
    };
    socket.on(event, on);
  });
}

/** The next `session` view that satisfies `pred`. */
export const viewWhere = (socket: Socket, pred: (v: SessionView) => boolean, ms = 5000) =>
  eventWhere<SessionView>(socket, 'session', pred, ms);
