import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, spawnRedisServer, stopRedisServer, untilAnswers, type RedisServerProcess } from '../support/redis-server.js';
import { deleteRedisPrefix, REDIS_URL } from '../unit/helpers/redis.js';

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

/**
 * N processes sharing one Redis namespace: one server, as far as clients can tell.
 * On the shared Redis by default; on a Redis Cluster of the test's own when `env`
 * names one (REDIS_CLUSTER_NODES), which the test discards whole afterwards.
 */
export async function startCluster(n: number, env: Record<string, string> = {}) {
  const prefix = `test:${randomUUID().slice(0, 8)}:`;
  const onCluster = Boolean(env.REDIS_CLUSTER_NODES);
  const shared = { REDIS_URL: onCluster ? '' : REDIS_URL, REDIS_PREFIX: prefix, ...env };
  const nodes = await Promise.all(Array.from({ length: n }, () => startProcess(shared)));
  return {
    nodes,
    prefix,
    /** The environment of these processes, for starting one more of them. */
    env: shared,
    async close() {
      await Promise.all(nodes.map((p) => p.stop('SIGTERM')));
      if (!onCluster) await deleteRedisPrefix(prefix);
    },
  };
}

export { freePort };

/** A redis-server of the test's own, on a free port, with an fsync-always append-only file. */
export async function startOwnRedis() {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'lsc-redis-'));
  let server: RedisServerProcess | undefined;
  const start = async () => {
    server = spawnRedisServer(['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir]);
    await untilAnswers(server, port);
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    /** Kills the server outright (SIGKILL): what an outage looks like to clients. */
    async kill() {
      await stopRedisServer(server!, 'SIGKILL');
    },
    start,
    async close() {
      await this.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A free port whose cluster bus port (+10000) is free too, neither of them one of `taken`
 * (the ports and bus ports already chosen for this cluster, which are free until their
 * nodes start: the kernel may hand the same port out twice in a row).
 */
async function freeClusterPort(taken: Set<number>): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port + 10_000 > 65_535 || taken.has(port) || taken.has(port + 10_000)) continue;
    const bus = createServer();
    const ok = await new Promise<boolean>((resolve) => {
      bus.once('error', () => resolve(false));
      bus.listen(port + 10_000, '127.0.0.1', () => resolve(true));
    });
    if (ok) await new Promise((resolve) => bus.close(resolve));
    if (ok) {
      taken.add(port).add(port + 10_000);
      return port;
    }
  }
}

/** Runs redis-cli and resolves with its output; rejects on a non-zero exit. */
function redisCli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('redis-cli', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`redis-cli ${args.join(' ')}: ${out}`))));
  });
}

/**
 * A Redis Cluster of the test's own: `masters` masters (at least 3, as Redis
 * requires), each with `replicas` replicas, on free ports, made with
 * `redis-cli --cluster create`, resolved once every replica has synced. A short
 * node timeout makes a failover take about 2 s. `kill(port)` is what an outage
 * of that node looks like.
 */
export async function startOwnCluster(opts: { masters?: number; replicas?: 0 | 1 } = {}) {
  const masters = opts.masters ?? 3;
  const replicas = opts.replicas ?? 0;
  const dir = mkdtempSync(join(tmpdir(), 'lsc-cluster-'));
  const nodes = new Map<number, RedisServerProcess>();
  const ports: number[] = [];
  const taken = new Set<number>();
  for (let i = 0; i < masters * (1 + replicas); i++) ports.push(await freeClusterPort(taken));
  const stopAll = async () => {
    await Promise.all([...nodes.values()].map((node) => stopRedisServer(node, 'SIGKILL')));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const port of ports) {
      const nodeDir = join(dir, String(port));
      mkdirSync(nodeDir);
      nodes.set(port, spawnRedisServer(
        ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf',
          '--cluster-node-timeout', '1000', '--repl-diskless-sync-delay', '0', '--save', '', '--appendonly', 'no',
          '--dir', nodeDir, '--logfile', join(nodeDir, 'log')],
      ));
    }
    for (const port of ports) await untilAnswers(nodes.get(port)!, port);
    await redisCli(['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', String(replicas), '--cluster-yes']);
    // Every node must agree before clients come: slots covered, and each replica attached.
    const settled = async () => {
      for (const port of ports) {
        const info = await redisCli(['-p', String(port), 'cluster', 'info']).catch(() => '');
        if (!info.includes('cluster_state:ok')) return false;
      }
      const topology = await redisCli(['-p', String(ports[0]), 'cluster', 'nodes']);
      if ((topology.match(/slave [0-9a-f]{40}/g) ?? []).length !== masters * replicas) return false;
      // A replica that has not synced with its master once is not eligible to replace it.
      for (const port of ports) {
        const replication = await redisCli(['-p', String(port), 'info', 'replication']);
        if (replication.includes('role:slave') && !replication.includes('master_link_status:up')) return false;
      }
      return true;
    };
    for (let i = 0; !(await settled()); i++) {
      if (i > 200) throw new Error('the redis cluster did not settle');
      await sleep(50);
    }
  } catch (err) {
    // Nodes that started must not outlive a cluster that did not.
    await stopAll();
    throw err;
  }
  return {
    /** Seed URLs for REDIS_CLUSTER_NODES. */
    nodes: ports.map((p) => `redis://127.0.0.1:${p}`),
    ports,
    /** The ports of the nodes that are masters now, with their first slot. */
    async masters(): Promise<Array<{ port: number; firstSlot: number }>> {
      const alive = ports.find((p) => nodes.get(p)?.child.exitCode === null && nodes.get(p)?.child.signalCode === null)!;
      const lines = (await redisCli(['-p', String(alive), 'cluster', 'nodes'])).trim().split('\n');
      return lines
        .map((l) => l.split(' '))
        .filter((f) => f[2]!.includes('master') && !f[2]!.includes('fail') && f[8])
        .map((f) => ({ port: Number(f[1]!.split(':')[1]!.split('@')[0]), firstSlot: Number(f[8]!.split('-')[0]) }));
    },
    /** Kills one node outright (SIGKILL). */
    async kill(port: number) {
      await stopRedisServer(nodes.get(port)!, 'SIGKILL');
    },
    close: stopAll,
  };
}
export type OwnCluster = Awaited<ReturnType<typeof startOwnCluster>>;
