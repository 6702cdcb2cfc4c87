/**
 * A minimal browser-like HTTP client over node:http (keep-alive, the `sid` cookie,
 * the CSRF token), loopback only. No fetch: it would add an Origin header on
 * unsafe methods and cost more than the thing being measured.
 */
import http from 'node:http';
import { randomBytes } from 'node:crypto';

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

export const BENCH_PASSWORD = 'bench-password-0123';

export interface HttpResult {
  status: number;
  body: unknown;
}

export function assertLoopback(url: string) {
  const u = new URL(url);
  if (u.hostname !== '127.0.0.1' && u.hostname !== 'localhost' && u.hostname !== '[::1]') {
    throw new Error(`refusing a non-loopback target: ${url}`);
  }
}

export class HttpUser {
  /** `sid=...` (as a Cookie header), '' when none. */
  cookie = '';
  csrf = '';
  username = '';
  userId = '';

  constructor(readonly base: string) {
    assertLoopback(base);
  }

  request(method: string, path: string, body?: unknown, timeoutMs = 15_000): Promise<HttpResult> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.cookie) headers.cookie = this.cookie;
    if (this.csrf && method !== 'GET') headers['x-csrf-token'] = this.csrf;
    if (payload) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(payload.length);
    }
    const url = new URL(path, this.base);
    return new Promise((resolve, reject) => {
      const req = http.request(url, { method, headers, agent }, (res) => {
        for (const c of res.headers['set-cookie'] ?? []) {
          const m = /^sid=([^;]*)/.exec(c);
          if (m) this.cookie = m[1] ? `sid=${m[1]}` : '';
        }
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            // not JSON: keep the text
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
        res.on('error', reject);
      });
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${path} timed out`)));
      req.on('error', reject);
      if (payload) req.write(payload);
      req.end();
    });
  }

  async expect(method: string, path: string, status: number, body?: unknown): Promise<Record<string, unknown>> {
    const res = await this.request(method, path, body);
    if (res.status !== status) throw new Error(`${method} ${path}: expected ${status}, got ${res.status} ${JSON.stringify(res.body)}`);
    return (res.body ?? {}) as Record<string, unknown>;
  }

  async fetchCsrf() {
    const body = await this.expect('GET', '/api/csrf', 200);
    this.csrf = String(body.csrfToken);
  }

  async register(username: string, password = BENCH_PASSWORD) {
    this.cookie = '';
    await this.fetchCsrf();
    const body = await this.expect('POST', '/api/register', 201, { username, password });
    this.adopt(body, username);
  }

  /** A fresh session for an existing user (a new cookie). */
  async login(username = this.username, password = BENCH_PASSWORD) {
    this.cookie = '';
    await this.fetchCsrf();
    const body = await this.expect('POST', '/api/login', 200, { username, password });
    this.adopt(body, username);
  }

  async logout() {
    await this.expect('POST', '/api/logout', 204);
  }

  private adopt(body: Record<string, unknown>, username: string) {
    if (typeof body.csrfToken === 'string') this.csrf = body.csrfToken;
    const user = body.user as { id?: string } | undefined;
    this.username = username;
    this.userId = user?.id ?? '';
    if (!this.cookie) throw new Error(`no session cookie after logging in ${username}`);
  }
}

/** Usernames: 3-32 of [a-z0-9_]. */
export const benchUsername = (run: string, tag: string, i: number) => `b${run}_${tag}${i}`.slice(0, 32);
export const runId = () => randomBytes(3).toString('hex');

/** Closes idle keep-alive connections (so that they do not count as server sockets). */
export function closeIdleHttp() {
  agent.destroy();
}
