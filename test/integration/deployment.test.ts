import { execFile } from 'node:child_process';
import fs, { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { expect } from 'chai';
import request from 'supertest';
import { TestClient } from '../helpers/client.js';
import { startProcess } from '../helpers/processes.js';
import { startServer } from '../helpers/server.js';
import { needs } from '../support/services.js';
import { publicDir } from '../../src/paths.js';

/** Deployment defaults: what a launcher, a proxy cache and docker compose rely on. */
describe('deployment defaults', function () {
  this.timeout(60_000);

  for (const level of ['error', 'silent']) {
    it(`prints the readiness line at LOG_LEVEL=${level}, and only that`, async () => {
      // startProcess waits for "listening on http://..." and fails if it never comes.
      const node = await startProcess({ LOG_LEVEL: level, REDIS_URL: '' });
      try {
        await request(node.url).get('/healthz').expect(200);
        const lines = node.output().trim().split('\n');
        expect(lines, node.output()).to.have.length(1);
        expect(JSON.parse(lines[0]!).msg).to.match(/^listening on http:\/\/127\.0\.0\.1:\d+$/);
      } finally {
        expect(await node.stop()).to.equal(0);
      }
    });
  }

  it('tells browsers and proxies not to keep pages or API answers (tokens, personal data), but lets them cache static files', async () => {
    const server = await startServer('memory');
    try {
      const c = new TestClient(server.url);
      await c.register();
      for (const path of ['/api/csrf', '/api/me', '/api/sessions', '/login', '/chat', '/settings', '/api/nope']) {
        const res = await c.agent.get(path);
        expect(res.headers['cache-control'], path).to.equal('no-store');
      }
      const css = await c.agent.get('/css/app.css').expect(200);
      expect(css.headers['cache-control']).to.not.include('no-store');
    } finally {
      await server.close();
    }
  });

  it('looks in the file system for the static files only: no stat for an API call or a page', async () => {
    const server = await startServer('memory');
    const stat = fs.stat;
    const looked: string[] = [];
    fs.stat = ((path: fs.PathLike, ...rest: unknown[]) => {
      if (String(path).startsWith(publicDir)) looked.push(String(path).slice(publicDir.length));
      return (stat as (...args: unknown[]) => unknown)(path, ...rest);
    }) as typeof fs.stat;
    try {
      const c = new TestClient(server.url);
      await c.register();
      for (const path of ['/api/csrf', '/api/me', '/login', '/chat', '/', '/api/nope', '/nope.css']) await c.agent.get(path);
      expect(looked).to.deep.equal([]);
      await c.agent.get('/css/app.css').expect(200).expect('content-type', /css/);
      await c.agent.get('/favicon.svg').expect(200);
      await c.agent.get('/js/chat.js').expect(200);
      await c.agent.get('/css/nope.css').expect(404);
      expect(looked).to.deep.equal(['/css/app.css', '/favicon.svg', '/js/chat.js', '/css/nope.css']);
    } finally {
      fs.stat = stat;
      await server.close();
    }
  });

  it('reads REDIS_CLUSTER_NODES as seed URLs, and refuses it with REDIS_URL or malformed', async () => {
    const { loadConfig } = await import('../../src/config.js');
    expect(loadConfig({ REDIS_CLUSTER_NODES: 'redis://10.0.0.1:7000, redis://10.0.0.2:7000' }).redis).to.deep.equal({
      clusterNodes: ['redis://10.0.0.1:7000', 'redis://10.0.0.2:7000'],
    });
    expect(loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379/0' }).redis).to.deep.equal({ url: 'redis://127.0.0.1:6379/0' });
    expect(loadConfig({}).redis).to.equal(undefined);
    expect(() => loadConfig({ REDIS_URL: 'redis://a:1', REDIS_CLUSTER_NODES: 'redis://b:2' })).to.throw(/REDIS_CLUSTER_NODES: set this or REDIS_URL, not both/);
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: 'redis://b:2/3' })).to.throw(/REDIS_CLUSTER_NODES: "redis:\/\/b:2\/3" is not a seed URL/);
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: 'b:2' })).to.throw(/REDIS_CLUSTER_NODES/);
  });

  it('lets plain Node import the built socket.io-live-session from anywhere in the repo', async () => {
    // `npm test` builds the package first (pretest), as `npm run build` does.
    const run = promisify(execFile);
    const probe = "import { liveSession, redisBus, memoryBus } from 'socket.io-live-session'; console.log([liveSession, redisBus, memoryBus].map((f) => typeof f).join(','));";
    for (const cwd of ['.', 'test', 'packages/socket.io-live-session/examples']) {
      const { stdout } = await run(process.execPath, ['--input-type=module', '-e', probe], { cwd });
      expect(stdout.trim(), cwd).to.equal('function,function,function');
    }
  });

  it('packs socket.io-live-session as a clean tarball: built JavaScript, type declarations, README and LICENSE, nothing else', async () => {
    const run = promisify(execFile);
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: 'packages/socket.io-live-session' });
    const [packed] = JSON.parse(stdout) as Array<{ name: string; files: Array<{ path: string }> }>;
    const files = packed!.files.map((f) => f.path).sort();
    expect(packed!.name).to.equal('socket.io-live-session');
    expect(files).to.include.members(['LICENSE', 'README.md', 'package.json', 'dist/index.js', 'dist/index.d.ts', 'dist/live.js', 'dist/redis.js']);
    for (const f of files) expect(f, f).to.match(/^(LICENSE|README\.md|package\.json|dist\/[a-z-]+\.(js|d\.ts))$/);
  });

  it('has docker compose refuse to start without SESSION_SECRET: no default secret', async () => {
    const compose = readFileSync('docker-compose.yml', 'utf8');
    const uses = compose.match(/SESSION_SECRET:.*$/gm) ?? [];
    expect(uses.length).to.be.greaterThan(0);
    for (const line of uses) expect(line, line).to.match(/\$\{SESSION_SECRET:\?[^}]+\}$/);
    // Checked by docker compose itself where it is installed (.ci/run installs Debian's docker-compose).
    const run = promisify(execFile);
    const installed = await run('docker-compose', ['version']).then(() => true, () => false);
    if (process.env.CI === 'true') expect(installed, 'docker-compose is installed in CI').to.equal(true);
    if (!installed) return;
    const env = { ...process.env, SESSION_SECRET: '' };
    const refused = await run('docker-compose', ['config', '--quiet'], { env }).then(() => null, (err: { stderr: string }) => err.stderr);
    expect(refused).to.match(/SESSION_SECRET/);
    await run('docker-compose', ['config', '--quiet'], { env: { ...env, SESSION_SECRET: 'x'.repeat(32) } });
  });

  it('runs the image as a non-root user', () => {
    const users = readFileSync('Dockerfile', 'utf8').match(/^USER\s+(\S+)/gm) ?? [];
    expect(users.length, 'the runtime stage sets USER').to.be.greaterThan(0);
    expect(users.at(-1)).to.not.match(/\s(root|0)(:|$)/);
  });
});

/** The compose file as docker compose reads it (Debian's docker-compose parses it without an engine). */
describe('docker compose', function () {
  this.timeout(60_000);
  needs('docker-compose');

  it('gives every service a health check (the app: /readyz; Redis: ping), and starts what needs Redis or the apps once they are healthy', async () => {
    const run = promisify(execFile);
    // `docker-compose config` resolves the anchors and merge keys into plain, two-space YAML: one block per service.
    const { stdout } = await run('docker-compose', ['config'], { env: { ...process.env, SESSION_SECRET: 'x'.repeat(32) } });
    const services = new Map<string, string>();
    const body = stdout.slice(stdout.indexOf('services:\n'), stdout.search(/^(volumes|networks):/m) >>> 0);
    for (const block of body.split(/^(?=  [a-z0-9-]+:$)/m).slice(1)) services.set(block.slice(2, block.indexOf(':')), block);
    const apps = [...services].filter(([, block]) => /^    build:/m.test(block)).map(([name]) => name);
    expect(apps.sort()).to.deep.equal(['app', 'app-on-cluster', 'app1', 'app2']);
    for (const app of apps) {
      const block = services.get(app)!;
      expect(block, app).to.match(/^    healthcheck:/m).and.to.include('/readyz');
      const needs = block.match(/^      (redis[a-z0-9-]*):\n        condition: (\w+)/m);
      expect(needs?.[2], `${app} waits for Redis`).to.be.oneOf(['service_healthy', 'service_completed_successfully']);
    }
    for (const [name, block] of services) {
      if (name.startsWith('redis') && name !== 'redis-cluster-init') expect(block, name).to.match(/^    healthcheck:/m).and.to.include('ping');
    }
    const nginx = services.get('nginx')!;
    for (const app of ['app1', 'app2']) expect(nginx, `nginx waits for ${app}`).to.match(new RegExp(`^      ${app}:\\n        condition: service_healthy`, 'm'));
  });
});
