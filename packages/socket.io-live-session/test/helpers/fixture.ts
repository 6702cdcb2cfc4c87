/** Child processes running test/fixtures/server.ts: one app, several processes, one Redis. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const SERVER = fileURLToPath(new URL('../fixtures/server.ts', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

export interface FixtureProcess {
  url: string;
  output(): string;
  stop(): Promise<void>;
}

export async function startFixture(env: { REDIS_URL: string; PREFIX: string; TTL_SECONDS?: string }): Promise<FixtureProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', SERVER], { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the fixture server did not start:\n${out}`)), 30_000);
    const exited = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`the fixture server exited (${code}):\n${out}`));
    };
    child.once('exit', exited);
    child.stdout.on('data', function listening() {
      const m = /listening on (\S+)/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      child.off('exit', exited);
      child.stdout.off('data', listening);
      resolve(m[1]!);
    });
  });
  return {
    url,
    output: () => out,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exit = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exit;
      clearTimeout(timer);
    },
  };
}
