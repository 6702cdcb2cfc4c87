import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core';
import { projectRoot } from '../../src/paths.js';
import { CHROMIUM } from '../support/services.js';

export { CHROMIUM };
export const ARTIFACTS = resolve(projectRoot, 'test-artifacts');
export const PASSWORD = 'correct horse battery';
/** Generous: these are waits for something to show up, never timing assertions. */
export const WAIT = 15_000;

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 375, height: 740 };

export async function launchBrowser(): Promise<Browser> {
  // A suite that launches one says needs('chromium'): skipped without it, failed in CI.
  if (!CHROMIUM) throw new Error('Chromium is not installed (apt-get install chromium) and CHROMIUM_PATH is unset');
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

export function artifactPath(name: string) {
  mkdirSync(ARTIFACTS, { recursive: true });
  return resolve(ARTIFACTS, name);
}

export const uniqueName = (base: string) => `${base}_${randomBytes(4).toString('hex')}`;

/**
 * Everything a page reports that should never happen: script errors, CSP
 * violations, alert() and friends (an injected `onerror=alert(1)` would show here).
 */
export function watchPage(page: Page, problems: string[]) {
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  page.on('dialog', (dialog) => {
    problems.push(`dialog: ${dialog.type()} ${dialog.message()}`);
    void dialog.dismiss();
  });
  page.on('console', (msg) => {
    const text = msg.text();
    if (/Content Security Policy/i.test(text)) problems.push(`csp: ${text}`);
    // API answers like 409 room_exists are expected and shown in the page; network errors are the offline test's.
    else if (msg.type() === 'error' && !/Failed to load resource|net::ERR_/.test(text)) problems.push(`console: ${text}`);
  });
  // Every script, style sheet and icon the pages load must be there.
  page.on('response', (res) => {
    if (res.status() >= 400 && /\.(js|css|svg|png|ico)(\?|$)/.test(new URL(res.url()).pathname)) problems.push(`asset ${res.status()}: ${res.url()}`);
  });
}

/** One person with their own browser (cookie jar); `page` is their first tab. */
export class BrowserUser {
  readonly problems: string[] = [];

  private constructor(
    readonly context: BrowserContext,
    readonly page: Page,
    readonly baseUrl: string,
    readonly username: string,
    readonly displayName: string,
  ) {}

  /** Opens a new browser context and registers through the register form. */
  static async register(
    browser: Browser,
    baseUrl: string,
    opts: { base?: string; displayName?: string; context?: BrowserContextOptions } = {},
  ): Promise<BrowserUser> {
    const username = uniqueName(opts.base ?? 'user');
    const displayName = opts.displayName ?? '';
    const context = await browser.newContext({ viewport: DESKTOP, ...opts.context });
    const page = await context.newPage();
    const user = new BrowserUser(context, page, baseUrl, username, displayName || username);
    watchPage(page, user.problems);
    await page.goto(`${baseUrl}/register`);
    await page.getByLabel('Username').fill(username);
    if (displayName) await page.getByLabel('Display name (optional)').fill(displayName);
    await page.getByLabel('Password').fill(PASSWORD);
    await Promise.all([page.waitForURL(`${baseUrl}/chat`), page.getByRole('button', { name: 'Create account' }).click()]);
    await waitConnected(page);
    return user;
  }

  /** Another tab in the same browser (same session cookie). */
  async newTab(path = '/chat'): Promise<Page> {
    const page = await this.context.newPage();
    watchPage(page, this.problems);
    await page.goto(`${this.baseUrl}${path}`);
    return page;
  }

  async close() {
    await this.context.close().catch(() => undefined);
  }
}

export async function waitConnected(page: Page) {
  await page.locator('[data-testid="connection-status"][data-state="connected"]').waitFor({ timeout: WAIT });
}

/** Waits until the page shows a conversation (room key `room:<id>` or `dm:<username>`). */
export async function waitActive(page: Page, key: string) {
  await page.locator(`#chat[data-active="${key}"]`).waitFor({ state: 'attached', timeout: WAIT });
}

/** Types into the composer and presses Enter. */
export async function send(page: Page, text: string) {
  const composer = page.getByTestId('composer');
  await composer.fill(text);
  await composer.press('Enter');
}

/** Waits until a message whose text is exactly `text` is confirmed (has a server id) in the list. */
export async function waitForMessage(page: Page, text: string) {
  await page.waitForFunction(
    (t) =>
      [...document.querySelectorAll('[data-testid="messages"] [data-testid="message"][data-message-id]')].some(
        (m) => m.querySelector('[data-testid="message-text"]')?.textContent === t,
      ),
    text,
    { timeout: WAIT },
  );
}

/** The texts of the listed messages, in order. */
export function messageTexts(page: Page): Promise<string[]> {
  return page.$$eval('[data-testid="messages"] [data-testid="message"] [data-testid="message-text"]', (els) =>
    els.map((e) => e.textContent ?? ''),
  );
}

/** The ids of the confirmed messages, in order. */
export function messageIds(page: Page): Promise<string[]> {
  return page.$$eval('[data-testid="messages"] [data-testid="message"][data-message-id]', (els) =>
    els.map((e) => (e as HTMLElement).dataset.messageId ?? ''),
  );
}

/** Numeric order of `<ms>-<seq>` ids. */
export function idsAscending(ids: string[]): boolean {
  const key = (id: string) => id.split('-').map(Number) as [number, number];
  return ids.every((id, i) => {
    if (i === 0) return true;
    const [am, as] = key(ids[i - 1]!);
    const [bm, bs] = key(id);
    return am < bm || (am === bm && as < bs);
  });
}

/**
 * Counts the messages in each Socket.IO acknowledgement carrying history (`history` of
 * `room:join`, `messages` of the history events) that the page receives from now on,
 * over WebSocket frames and long-polling responses alike. `settled()` waits for the
 * polling bodies still being read.
 */
export function watchHistoryAcks(page: Page): { settled: () => Promise<number[]> } {
  const sizes: number[] = [];
  const reading: Promise<void>[] = [];
  const read = (packet: string) => {
    // An Engine.IO message (4) holding a Socket.IO ack (3) of the main namespace: `43<ack id>[result]`.
    const ack = /^43\d+(\[.*)$/s.exec(packet);
    if (!ack) return;
    const [result] = JSON.parse(ack[1]!) as [Record<string, unknown> | null];
    const list = result?.history ?? result?.messages;
    if (Array.isArray(list)) sizes.push(list.length);
  };
  page.on('websocket', (ws) => ws.on('framereceived', ({ payload }) => typeof payload === 'string' && read(payload)));
  page.on('response', (res) => {
    if (new URL(res.url()).pathname !== '/socket.io/' || res.request().method() !== 'GET') return;
    // A polling body holds any number of packets, separated by the record separator.
    reading.push(res.text().then((body) => body.split('\x1e').forEach(read), () => undefined));
  });
  return { settled: async () => (await Promise.all(reading), sizes) };
}
