import { expect } from 'chai';
import type { Browser, BrowserContext, BrowserContextOptions, Page } from 'playwright-core';
import { BACKENDS, startServer, type Backend, type TestServer } from '../helpers/server.js';
import { needs } from '../support/services.js';
import { BrowserUser, DESKTOP, PASSWORD, WAIT, artifactPath, launchBrowser, waitConnected, watchPage } from './browser.js';

/*
 * /settings in headless Chromium: one user signed in from several browsers (each
 * its own context, i.e. its own cookie jar). Signing a browser out from the list,
 * or changing the password, ends that browser's open chat at once.
 */

const FIREFOX_WINDOWS = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0';
const SAFARI_IPHONE =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';
const PHONE_SCREEN = { width: 390, height: 844 };
const NEW_PASSWORD = 'a brand new secret';

const sessionRows = (page: Page) => page.getByTestId('session-row');
const rowOf = (page: Page, device: string) => sessionRows(page).filter({ hasText: device });
const ended = (page: Page) => page.locator('[data-testid="connection-status"][data-state="ended"]').waitFor({ timeout: WAIT });

describe('browser settings: sessions and password', function () {
  this.timeout(90_000);
  needs('chromium');
  let browser: Browser;
  before(async () => {
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });

  function useServer(backend: Backend) {
    let server: TestServer | undefined;
    const contexts: BrowserContext[] = [];
    const problems: string[] = [];
    before(async () => {
      server = await startServer(backend);
    });
    afterEach(async function () {
      for (const c of contexts.splice(0)) await c.close().catch(() => undefined);
      const seen = problems.splice(0);
      if (this.currentTest?.state === 'passed') expect(seen, 'page errors, CSP violations or dialogs').to.deep.equal([]);
    });
    after(async () => {
      await server?.close();
    });
    const url = () => {
      if (!server) throw new Error('server not started');
      return server.url;
    };
    return {
      url,
      /** A user registered through the form in a browser of their own, on /chat. */
      async register() {
        const user = await BrowserUser.register(browser, url(), { base: 'sam' });
        contexts.push(user.context);
        user.page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
        return user;
      },
      /** Another browser (a context of its own) signed in as `username` through the form, on /chat. */
      async signIn(username: string, password = PASSWORD, options: BrowserContextOptions = {}) {
        const context = await browser.newContext({ viewport: DESKTOP, ...options });
        contexts.push(context);
        const page = await context.newPage();
        watchPage(page, problems);
        await page.goto(`${url()}/login`);
        await page.getByLabel('Username').fill(username);
        await page.getByLabel('Password').fill(password);
        await page.getByRole('button', { name: 'Sign in' }).click();
        return page;
      },
    };
  }

  for (const backend of BACKENDS) {
    describe(`one user, several browsers (${backend})`, () => {
      needs(backend);
      const env = useServer(backend);
      const onChat = async (page: Page) => {
        await page.waitForURL(`${env.url()}/chat`, { timeout: WAIT });
        await waitConnected(page);
        return page;
      };

      it('"Sign out" on the other browser\'s row ends its open chat at once, and the row goes without a reload', async () => {
        const sam = await env.register();
        const other = await onChat(await env.signIn(sam.username, PASSWORD, { userAgent: FIREFOX_WINDOWS }));
        const page = sam.page;
        await page.goto(`${env.url()}/settings`);
        expect(await sessionRows(page).count()).to.equal(2);
        const here = page.locator('[data-testid="session-row"][data-current="true"]');
        expect(await here.innerText()).to.contain('Chrome on Linux').and.contain('This device');
        expect(await here.getByTestId('session-revoke').count(), 'no sign-out on this device').to.equal(0);
        expect(await rowOf(page, 'Firefox on Windows').getAttribute('data-current')).to.equal(null);
        // Signed in and last active: relative, with the ISO time in datetime and title.
        const times = rowOf(page, 'Firefox on Windows').locator('time');
        expect(await times.count()).to.equal(2);
        expect(await times.first().getAttribute('title')).to.equal(await times.first().getAttribute('datetime'));

        await page.evaluate(() => ((window as unknown as { samePage: boolean }).samePage = true));
        await rowOf(page, 'Firefox on Windows').getByTestId('session-revoke').click();
        await ended(other);
        const banner = other.getByTestId('session-ended');
        await banner.waitFor({ timeout: WAIT });
        expect(await banner.innerText()).to.contain('ended from another device');
        expect(await other.getByTestId('composer').isDisabled()).to.equal(true);

        await rowOf(page, 'Firefox on Windows').waitFor({ state: 'detached', timeout: WAIT });
        expect(await page.getByTestId('sessions-notice').innerText()).to.equal('Signed out of that session.');
        expect(await page.evaluate(() => (window as unknown as { samePage?: boolean }).samePage), 'no reload').to.equal(true);
        expect(await sessionRows(page).count()).to.equal(1);
        // The ended browser is signed out for good.
        await other.reload();
        expect(other.url()).to.equal(`${env.url()}/login`);
      });

      it('the password form ends the other browser, keeps this one signed in, and the new password works', async () => {
        const sam = await env.register();
        const other = await onChat(await env.signIn(sam.username, PASSWORD, { userAgent: SAFARI_IPHONE }));
        const page = sam.page;
        await page.goto(`${env.url()}/settings`);
        const form = page.getByTestId('password-form');
        // A wrong current password: the error next to the field, nothing ends.
        await form.getByLabel('Current password').fill('not my password');
        await form.getByLabel('New password').fill(NEW_PASSWORD);
        await form.getByRole('button', { name: 'Change password' }).click();
        await page.getByTestId('currentPassword-error').waitFor({ timeout: WAIT });
        expect(await page.getByLabel('Current password').getAttribute('aria-invalid')).to.equal('true');
        expect(await other.getByTestId('connection-status').getAttribute('data-state')).to.equal('connected');

        await page.getByTestId('password-form').getByLabel('Current password').fill(PASSWORD);
        await page.getByTestId('password-form').getByLabel('New password').fill(NEW_PASSWORD);
        await page.getByTestId('password-form').getByRole('button', { name: 'Change password' }).click();
        await page.waitForURL(`${env.url()}/settings?done=password#password`, { timeout: WAIT });
        expect(await page.getByTestId('password-notice').innerText()).to.match(/^Password changed\./);
        await ended(other);
        expect(await sessionRows(page).count()).to.equal(1);

        // This browser is still signed in: its chat connects.
        await page.goto(`${env.url()}/chat`);
        await waitConnected(page);
        // A new browser: the old password is refused, the new one signs in.
        const refused = await env.signIn(sam.username, PASSWORD);
        await refused.getByTestId('form-error').waitFor({ timeout: WAIT });
        await onChat(await env.signIn(sam.username, NEW_PASSWORD));
      });
    });
  }

  describe('in-memory server', () => {
    const env = useServer('memory');

    it('works without JavaScript: "Sign out everywhere else" posts the form and comes back with the notice', async () => {
      const sam = await env.register();
      const others = [await env.signIn(sam.username), await env.signIn(sam.username)];
      for (const p of others) await p.waitForURL(`${env.url()}/chat`, { timeout: WAIT });
      const noScript = await env.signIn(sam.username, PASSWORD, { javaScriptEnabled: false, userAgent: FIREFOX_WINDOWS });
      await noScript.waitForURL(`${env.url()}/chat`, { timeout: WAIT });
      await noScript.goto(`${env.url()}/settings`);
      expect(await sessionRows(noScript).count()).to.equal(4);
      await noScript.getByTestId('revoke-others').click();
      await noScript.waitForURL(`${env.url()}/settings?done=signed-out-others#sessions`, { timeout: WAIT });
      expect(await noScript.getByTestId('sessions-notice').innerText()).to.equal('Signed out of every other session.');
      expect(await sessionRows(noScript).count()).to.equal(1);
      for (const p of [sam.page, ...others]) await ended(p);
    });

    it('looks right at desktop and phone widths (screenshots in test-artifacts/)', async () => {
      const sam = await env.register();
      await onChatAt(await env.signIn(sam.username, PASSWORD, { userAgent: FIREFOX_WINDOWS }));
      await onChatAt(await env.signIn(sam.username, PASSWORD, { userAgent: SAFARI_IPHONE }));
      const desktop = sam.page;
      await desktop.goto(`${env.url()}/settings`);
      expect(await sessionRows(desktop).count()).to.equal(3);
      await desktop.screenshot({ path: artifactPath('settings-desktop.png'), fullPage: true });
      expect(await desktop.evaluate(() => document.documentElement.scrollWidth)).to.be.at.most(DESKTOP.width);

      // The same user on a phone, with an error next to a field.
      const phone = await env.signIn(sam.username, PASSWORD, { viewport: PHONE_SCREEN, isMobile: true, hasTouch: true, deviceScaleFactor: 2, userAgent: SAFARI_IPHONE });
      await onChatAt(phone);
      await phone.goto(`${env.url()}/settings`);
      await phone.screenshot({ path: artifactPath('settings-phone.png'), fullPage: true });
      expect(await phone.evaluate(() => document.documentElement.scrollWidth)).to.be.at.most(PHONE_SCREEN.width);
      for (const button of await phone.getByTestId('session-revoke').all()) {
        const box = await button.boundingBox();
        expect(box!.x + box!.width).to.be.at.most(PHONE_SCREEN.width);
      }
      await phone.getByTestId('password-form').getByLabel('Current password').fill('not my password');
      await phone.getByTestId('password-form').getByLabel('New password').fill(NEW_PASSWORD);
      await phone.getByRole('button', { name: 'Change password' }).click();
      await phone.getByTestId('currentPassword-error').waitFor({ timeout: WAIT });
      await phone.emulateMedia({ colorScheme: 'dark' });
      await phone.screenshot({ path: artifactPath('settings-phone-error-dark.png'), fullPage: true });
    });

    async function onChatAt(page: Page) {
      await page.waitForURL(`${env.url()}/chat`, { timeout: WAIT });
      await waitConnected(page);
    }
  });
});
