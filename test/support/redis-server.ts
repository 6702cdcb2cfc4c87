/**
 * redis-server processes of the test run's own: the run's throwaway Redis
 * (test/support/services.ts) and the servers and clusters single suites start
 * and kill (test/helpers/processes.ts). Each one dies with the test run however
 * the run ends, even by SIGKILL: a watchdog shell holds a pipe from this process
 * and kills the server when the pipe closes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants } from 'node:fs';
import { connect, createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Where `command` is on PATH (the lookup a shell makes), or undefined. */
export function onPath(command: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const file = join(dir, command);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** A TCP port nothing listens on now, on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as { port: number };
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

/** True if a Redis on 127.0.0.1:`port` answers PING (without a password). */
export function answersPing(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d) => {
      reply += d;
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

/*
 * sh keeps the pipe on fd 3 for a background watchdog, then becomes redis-server
 * (exec), so the child's pid is the server's own and child.kill() reaches it.
 * The watchdog's read returns when the pipe closes: this process closed it, or
 * exited or was killed, and then it kills the server.
 */
const WATCHDOG = 'exec 3<&0; (read -r _ <&3; kill -9 $$) >/dev/null 2>&1 & exec "$0" "$@" 3<&-';

export interface RedisServerProcess {
  child: ChildProcess;
  /** The last few kB of the server's own output (for error messages). */
  output(): string;
}

/** Starts `redis-server ...args` (found on PATH), tied to this process's life; see above. */
export function spawnRedisServer(args: string[]): RedisServerProcess {
  const child = spawn('sh', ['-c', WATCHDOG, 'redis-server', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: Buffer) => (out = (out + d.toString()).slice(-4000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  // A server nobody stopped must not keep the run alive (stopRedisServer refs it
  // while it waits); the watchdog still sees the pipe close when the run ends.
  child.unref();
  for (const stream of [child.stdin, child.stdout, child.stderr] as unknown as Array<{ unref?: () => void }>) stream.unref?.();
  return { child, output: () => out };
}

const alive = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

/** Resolves once the server answers PING on `port`; rejects with its output if it exits first or takes over `ms`. */
export async function untilAnswers(server: RedisServerProcess, port: number, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await answersPing(port))) {
    if (!alive(server.child)) throw new Error(`redis-server on port ${port} exited:\n${server.output()}`);
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer within ${ms} ms:\n${server.output()}`);
    await sleep(20);
  }
}

/** Stops the server (SIGKILL unless told otherwise) and resolves once it has exited; lets its watchdog go. */
export async function stopRedisServer(server: RedisServerProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  const { child } = server;
  if (alive(child)) {
    const exited = once(child, 'exit');
    child.ref();
    child.kill(signal);
    await exited;
  }
  child.stdin?.end();
}
