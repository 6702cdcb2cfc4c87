import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { deleteRedisPrefix, REDIS_URL } from './server.js';

/** A real server process (`node --import tsx src/server.ts`), as `npm start` runs it. */
export interface ServerProcess {
  url: string;
  child: ChildProcess;
  output(): string;
  /** Sends a signal and resolves with the exit code (null when killed by a signal). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function startProcess(env: Record<string, string>): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    env: { ...process.env, PORT: '0', LOG_LEVEL: 'info', SESSION_SECRET: 'cluster-secret-0123456789abcdef', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 20_000);
    const onData = () => {
      const m = /listening on (http:\/\/[^"\s]+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${out}`));
    });
  });
  return {
    url,
    child,
    output: () => out,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const [code] = (await once(child, 'exit')) as [number | null];
      return code;
    },
  };
}

/** N processes sharing one Redis namespace: one server, as far as clients can tell. */
export async function startCluster(n: number, env: Record<string, string> = {}) {
  const prefix = `test:${randomUUID().slice(0, 8)}:`;
  const shared = { REDIS_URL, REDIS_PREFIX: prefix, ...env };
  const nodes = await Promise.all(Array.from({ length: n }, () => startProcess(shared)));
  return {
    nodes,
    prefix,
    async close() {
      await Promise.all(nodes.map((p) => p.stop('SIGTERM')));
      await deleteRedisPrefix(prefix);
    },
  };
}

export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as { port: number };
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

/** A redis-server of the test's own, on a free port, with an fsync-always append-only file. */
export async function startOwnRedis() {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'lsc-redis-'));
  let child: ChildProcess | undefined;
  const ping = async () => {
    const { createClient } = await import('redis');
    const c = createClient({ url: `redis://127.0.0.1:${port}`, socket: { reconnectStrategy: false, connectTimeout: 500 } });
    c.on('error', () => undefined);
    try {
      await c.connect();
      await c.ping();
      return true;
    } catch {
      return false;
    } finally {
      if (c.isOpen) await c.close().catch(() => undefined);
    }
  };
  const start = async () => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir], {
      stdio: 'ignore',
    });
    for (let i = 0; i < 100; i++) {
      if (await ping()) return;
      await sleep(50);
    }
    throw new Error('redis-server did not start');
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    /** Kills the server outright (SIGKILL): what an outage looks like to clients. */
    async kill() {
      const c = child!;
      c.kill('SIGKILL');
      if (c.exitCode === null && c.signalCode === null) await once(c, 'exit');
    },
    start,
    async close() {
      await this.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
