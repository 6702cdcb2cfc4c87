import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import request from 'supertest';
import { loadConfig, ConfigError } from '../../src/config.js';
import { start, type Started } from '../../src/start.js';
import { BACKENDS } from '../helpers/server.js';
import { connectSocket, disconnected, emitAck, TestClient } from '../helpers/client.js';
import { deleteRedisPrefix, REDIS_URL } from '../unit/helpers/redis.js';

/** One sample of the Prometheus text format: its name, labels and value. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a scrape (comments and blank lines skipped; label values without escapes, as ours are). */
function parse(text: string): Sample[] {
  return text
    .split('\n')
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!m) throw new Error(`not a sample line: ${line}`);
      const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1]!, l[2]!]));
      return { name: m[1]!, labels, value: Number(m[3]) };
    });
}

/** The value of the one sample of `name` whose labels include `labels` (0 when there is none). */
function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length > 1) throw new Error(`${name} ${JSON.stringify(labels)} matches ${found.length} samples`);
  return found[0]?.value ?? 0;
}

for (const backend of BACKENDS) {
  describe(`GET /metrics on METRICS_PORT (${backend})`, () => {
    let server: Started;
    const prefix = `test:metrics:${randomUUID().slice(0, 8)}:`;

    before(async () => {
      const config = loadConfig({
        LOG_LEVEL: 'silent',
        SESSION_SECRET: 'test-secret-0123456789abcdef',
        HOST: '127.0.0.1',
        PORT: '0',
        METRICS_PORT: '0',
        MAX_SOCKETS_PER_USER: '2',
        RATE_LIMITS: 'typing=2/60',
        ...(backend === 'redis' ? { REDIS_URL, REDIS_PREFIX: prefix } : {}),
      });
      server = await start(config, { announce: false });
    });
    after(async () => {
      await server.close();
      if (backend === 'redis') await deleteRedisPrefix(prefix);
    });

    const scrape = async () => {
      const res = await request(server.metricsUrl!.replace(/\/metrics$/, '')).get('/metrics').expect(200);
      expect(res.headers['content-type']).to.match(/^text\/plain; version=0\.0\.4/);
      return parse(res.text);
    };

    it('serves only GET /metrics, on its own port; the public port answers 404', async () => {
      expect(server.metricsUrl).to.match(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      expect(new URL(server.metricsUrl!).port).to.not.equal(String(server.port));
      await request(server.url).get('/metrics').expect(404);
      const base = server.metricsUrl!.replace(/\/metrics$/, '');
      await request(base).get('/').expect(404);
      await request(base).get('/api/me').expect(404);
      await request(base).post('/metrics').expect(404);
    });

    it("has Node's default process metrics (CPU, event-loop lag, heap)", async () => {
      const names = new Set((await scrape()).map((s) => s.name));
      for (const name of ['process_cpu_seconds_total', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) {
        expect(names, name).to.include(name);
      }
    });

    it('counts sockets, sessions, handshakes, events by result, their durations, rate limits, session ends and HTTP requests', async () => {
      const before = await scrape();
      const delta = async (name: string, labels: Record<string, string> = {}) => valueOf(await scrape(), name, labels) - valueOf(before, name, labels);

      const c = new TestClient(server.url);
      await c.register();
      await c.post('/api/login', { username: c.user!.username, password: 'not the password' }).expect(401);
      await c.agent.get('/api/nothing-here').expect(404);
      await c.agent.get('/js/chat.js').expect(200);

      const s = await c.connect();
      const second = await c.connect();
      expect((await scrape()).find((x) => x.name === 'live_sockets')?.value).to.equal(2);
      expect(valueOf(await scrape(), 'live_sessions')).to.equal(1);

      // Handshakes refused: a third socket of the user, a foreign origin, no session.
      expect(await c.connect().then(() => 'connected', (e: Error) => e.message)).to.equal('too_many_connections');
      expect(await c.connect({ headers: { origin: 'http://evil.example' } }).then(() => 'connected', (e: Error) => e.message)).to.not.equal('connected');
      expect(await connectSocket(server.url).then(() => 'connected', (e: Error) => e.message)).to.equal('unauthorized');

      // Events: ok, refused by a handler, refused by the schema, by a limit, unknown.
      expect((await emitAck(s, 'room:join', { roomId: 'general' })).ok).to.equal(true);
      expect((await emitAck(s, 'message:send', { roomId: 'general', text: 'one' })).ok).to.equal(true);
      expect((await emitAck(s, 'message:send', { roomId: 'general', text: 'two' })).ok).to.equal(true);
      expect((await emitAck(s, 'message:send', { roomId: 'elsewhere', text: 'no' })).error.code).to.equal('forbidden');
      expect((await emitAck(s, 'message:send', { roomId: 'general' })).error.code).to.equal('bad_request');
      for (let i = 0; i < 2; i++) expect((await emitAck(s, 'typing', { roomId: 'general', typing: true })).ok).to.equal(true);
      expect((await emitAck(s, 'typing', { roomId: 'general', typing: true })).error.code).to.equal('rate_limited');
      expect((await emitAck(s, 'no:such:event', {})).error.code).to.equal('bad_request');

      // A session end, told to both sockets.
      const ends = [disconnected(s), disconnected(second)];
      await c.logout();
      await Promise.all(ends);

      expect(await delta('handshakes_total', { result: 'ok' })).to.equal(2);
      expect(await delta('handshakes_total', { result: 'too_many_connections' })).to.equal(1);
      expect(await delta('handshakes_total', { result: 'origin' })).to.be.at.least(1);
      expect(await delta('handshakes_total', { result: 'unauthorized' })).to.equal(1);

      expect(await delta('socket_events_total', { event: 'room:join', result: 'ok' })).to.equal(1);
      expect(await delta('socket_events_total', { event: 'message:send', result: 'ok' })).to.equal(2);
      expect(await delta('socket_events_total', { event: 'message:send', result: 'forbidden' })).to.equal(1);
      expect(await delta('socket_events_total', { event: 'message:send', result: 'bad_request' })).to.equal(1);
      expect(await delta('socket_events_total', { event: 'typing', result: 'ok' })).to.equal(2);
      expect(await delta('socket_events_total', { event: 'typing', result: 'rate_limited' })).to.equal(1);
      expect(await delta('socket_events_total', { event: 'unknown', result: 'bad_request' })).to.equal(1);
      expect((await scrape()).some((x) => x.labels.event === 'no:such:event'), 'no series for a name a client made up').to.equal(false);

      // Durations of the events that reached their handler (the schema's refusal did not).
      expect(await delta('socket_event_duration_seconds_count', { event: 'message:send' })).to.equal(3);
      expect(await delta('socket_event_duration_seconds_bucket', { event: 'message:send', le: '+Inf' })).to.equal(3);
      expect(await delta('socket_event_duration_seconds_bucket', { event: 'message:send', le: '5' })).to.equal(3);
      expect(valueOf(await scrape(), 'socket_event_duration_seconds_sum', { event: 'message:send' })).to.be.above(0);

      expect(await delta('rate_limited_total', { limit: 'typing' })).to.equal(1);
      expect(await delta('session_ended_sockets_total', { reason: 'logout' })).to.equal(2);
      expect(valueOf(await scrape(), 'live_sockets')).to.equal(0);
      expect(valueOf(await scrape(), 'live_sessions')).to.equal(0);

      // HTTP by route pattern: an error inside a route keeps its pattern; unknown paths share one label.
      expect(await delta('http_requests_total', { method: 'POST', route: '/api/register', status: '201' })).to.equal(1);
      expect(await delta('http_requests_total', { method: 'POST', route: '/api/login', status: '401' })).to.equal(1);
      expect(await delta('http_requests_total', { method: 'POST', route: '/api/logout', status: '204' })).to.equal(1);
      expect(await delta('http_requests_total', { method: 'GET', route: 'unmatched', status: '404' })).to.equal(1);
      expect(await delta('http_requests_total', { method: 'GET', route: 'static', status: '200' })).to.equal(1);
      expect((await scrape()).some((x) => x.name === 'http_requests_total' && x.labels.route?.includes('nothing-here'))).to.equal(false);
    });

    it('names a route by its pattern, not its path', async () => {
      const c = new TestClient(server.url);
      await c.register();
      await c.agent.get('/api/rooms/general/messages').expect(200);
      const samples = await scrape();
      expect(valueOf(samples, 'http_requests_total', { method: 'GET', route: '/api/rooms/:id/messages', status: '200' })).to.be.at.least(1);
    });
  });
}

describe('METRICS_PORT', () => {
  it('is a port: 0-65535, never the public PORT; unset means no metrics listener', async () => {
    expect(() => loadConfig({ METRICS_PORT: '70000' })).to.throw(ConfigError, /^METRICS_PORT: must be between 0 and 65535/);
    expect(() => loadConfig({ METRICS_PORT: 'nine' })).to.throw(ConfigError, /^METRICS_PORT: must be a whole number/);
    expect(() => loadConfig({ PORT: '3000', METRICS_PORT: '3000' })).to.throw(ConfigError, /^METRICS_PORT: must differ from PORT/);
    expect(loadConfig({ METRICS_PORT: '9464' }).metricsPort).to.equal(9464);
    expect(loadConfig({}).metricsPort).to.equal(undefined);
    const server = await start(loadConfig({ LOG_LEVEL: 'silent', PORT: '0' }), { announce: false });
    try {
      expect(server.metricsUrl).to.equal(undefined);
      await request(server.url).get('/metrics').expect(404);
    } finally {
      await server.close();
    }
  });

  it('refuses to start, naming METRICS_PORT, when that port is taken, and leaves the app port free', async () => {
    const first = await start(loadConfig({ LOG_LEVEL: 'silent', PORT: '0', METRICS_PORT: '0' }), { announce: false });
    try {
      const taken = new URL(first.metricsUrl!).port;
      const err = await start(loadConfig({ LOG_LEVEL: 'silent', PORT: '0', METRICS_PORT: taken }), { announce: false }).then(
        () => null,
        (e: Error) => e,
      );
      expect(err?.message).to.match(new RegExp(`^cannot listen on 127\\.0\\.0\\.1:${taken} \\(METRICS_PORT\\): the port is already in use`));
    } finally {
      await first.close();
    }
  });
});
