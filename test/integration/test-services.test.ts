import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { onPath } from '../support/redis-server.js';
import { needs } from '../support/services.js';

const run = promisify(execFile);

/**
 * Runs test/fixtures/needs.fixture.ts in a child mocha (the project's reporter and
 * test/support/services.ts) with `env` over a clean environment: what it printed and its exit code.
 */
async function fixtureRun(env: Record<string, string>): Promise<{ out: string; code: number }> {
  const args = ['node_modules/mocha/bin/mocha.js', '--no-config', '--require', 'test/support/services.ts', '--node-option', 'import=tsx', '--extension', 'ts'];
  args.push('--reporter', 'test/support/reporter.cjs', '--timeout', '20000', 'test/fixtures/needs.fixture.ts');
  const clean = { HOME: process.env.HOME ?? '/tmp', ...env };
  try {
    const { stdout, stderr } = await run(process.execPath, args, { env: clean, timeout: 60_000 });
    return { out: stdout + stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout: string; stderr: string; code: number };
    return { out: e.stdout + e.stderr, code: e.code };
  }
}

/** A PATH holding node only: no redis-server, redis-cli or Chromium. */
function bareBin() {
  const dir = mkdtempSync(join(tmpdir(), 'bare-bin-'));
  symlinkSync(process.execPath, join(dir, 'node'));
  return dir;
}

describe('what the test run needs from the machine (test/support/services.ts)', function () {
  this.timeout(90_000);
  needs('redis-server');
  let bare: string;
  before(() => {
    bare = bareBin();
  });
  after(() => rmSync(bare, { recursive: true, force: true }));

  it('starts a throwaway redis-server of its own on a free port when REDIS_URL is unset', async () => {
    const withRedis = `${bare}:${dirname(onPath('redis-server')!)}`;
    const { out, code } = await fixtureRun({ PATH: withRedis, CHROMIUM_PATH: '/nonexistent/chromium' });
    expect(out).to.match(/tests: started redis-server on 127\.0\.0\.1:\d+/);
    expect(out).to.not.include(':6379');
    expect(out, out).to.match(/2 passing/);
    expect(code, out).to.equal(0);
  });

  it('outside CI, skips a suite whose tool is missing in one line each, and runs the rest', async () => {
    const { out, code } = await fixtureRun({ PATH: bare });
    expect(out).to.include('skipped: a suite that needs Redis needs Redis (redis-server is not installed and REDIS_URL is unset)');
    expect(out).to.include('skipped: a suite that needs Chromium needs Chromium (not installed; or set CHROMIUM_PATH)');
    expect(out.match(/skipped: /g), out).to.have.length(2);
    expect(out, out).to.match(/1 passing/);
    expect(code, out).to.equal(0);
  });

  it('with CI set, fails each such suite instead of skipping it', async () => {
    const { out, code } = await fixtureRun({ PATH: bare, CI: 'true' });
    expect(out.match(/CI is set, so nothing skips/g), out).to.have.length(2);
    expect(out).to.not.include('skipped: ');
    expect(code, out).to.equal(2);
  });
});
