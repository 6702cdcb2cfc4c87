import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { expect } from 'chai';

/*
 * `npm run dev` as a launcher or a log collector sees it: stdout is a pipe, so the
 * log is JSON lines although the script asks for readable ones (those are for a
 * terminal only; test/unit/logger.test.ts has the choice itself).
 */
describe('npm run dev on a pipe', function () {
  this.timeout(60_000);

  it('writes JSON lines, the "listening on" line among them', async () => {
    // --ignore-scripts skips predev (the workspace build `npm test` has already made).
    const child = spawn('npm', ['run', 'dev', '--ignore-scripts', '--silent'], {
      env: { ...process.env, PORT: '0', REDIS_URL: '', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group: npm, sh, tsx and the server stop together
    });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    try {
      const deadline = Date.now() + 45_000;
      while (!/listening on http/.test(out)) {
        if (child.exitCode !== null) expect.fail(`npm run dev exited with ${child.exitCode}:\n${out}`);
        if (Date.now() > deadline) expect.fail(`npm run dev did not start:\n${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const lines = out.split('\n').filter((l) => l.trim());
      for (const line of lines) expect(() => JSON.parse(line), line).to.not.throw();
      const listening = lines.map((l) => JSON.parse(l) as { msg?: string; level?: number }).find((l) => l.msg?.startsWith('listening on http://'));
      expect(listening, out).to.include({ level: 30 });
    } finally {
      const exited = once(child, 'exit');
      process.kill(-child.pid!, 'SIGTERM');
      await exited;
    }
  });
});
