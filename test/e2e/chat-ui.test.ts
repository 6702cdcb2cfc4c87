import { expect } from 'chai';
import type { Browser, Page } from 'playwright-core';
import { roomConversation } from '../../src/chat/conversations.js';
import { BACKENDS, startServer, type Backend, type TestServer } from '../helpers/server.js';
import {
  BrowserUser,
  DESKTOP,
  PASSWORD,
  PHONE,
  WAIT,
  artifactPath,
  idsAscending,
  launchBrowser,
  messageIds,
  messageTexts,
  send,
  uniqueName,
  waitActive,
  waitConnected,
  waitForMessage,
  watchHistoryAcks,
} from './browser.js';
import { needs } from '../support/services.js';

/*
 * The shipped pages in real headless Chromium against the real server:
 * forms, the live chat, sessions ending across tabs, presence, history,
 * direct messages, reconnection, and the layout at desktop and phone widths.
 * Waits are Playwright's polling waits with generous timeouts; nothing here
 * asserts how long anything took.
 */

const presenceUser = (page: Page, username: string) => page.locator(`[data-testid="presence-user"][data-username="${username}"]`);
const roomItem = (page: Page, roomId: string) => page.locator(`[data-testid="room"][data-room-id="${roomId}"]`);

describe('browser chat', function () {
  needs('chromium');
  this.timeout(90_000);
  let browser: Browser;
  before(async () => {
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });

  /**
   * A server on `backend` for the tests of a describe, and the browser users they
   * open; after each passing test no page may have had errors, CSP violations or dialogs.
   */
  function useServer(backend: Backend) {
    let server: TestServer | undefined;
    const users: BrowserUser[] = [];
    before(async () => {
      // A short presence grace period, so that a user who leaves is shown offline soon.
      server = await startServer(backend, { PRESENCE_GRACE_MS: '300' });
    });
    afterEach(async function () {
      const problems = users.flatMap((u) => u.problems);
      for (const u of users.splice(0)) await u.close();
      if (this.currentTest?.state === 'passed') expect(problems, 'page errors, CSP violations or dialogs').to.deep.equal([]);
    });
    after(async () => {
      await server?.close();
    });
    const started = (): TestServer => {
      if (!server) throw new Error('server not started');
      return server;
    };
    return {
      get server() {
        return started();
      },
      /** Registers a new user in a fresh browser context (closed after the test). */
      async open(base: string, opts: Parameters<typeof BrowserUser.register>[2] = {}) {
        const u = await BrowserUser.register(browser, started().url, { base, ...opts });
        users.push(u);
        return u;
      },
    };
  }

  for (const backend of BACKENDS) {
    describe(`main flow (${backend})`, () => {
      needs(backend);
      const env = useServer(backend);
      const open = (base: string, displayName?: string) => env.open(base, displayName ? { displayName } : {});

      it('two users register through the forms and chat both ways in a room', async () => {
        const alice = await open('alice', 'Alice');
        const bob = await open('bob', 'Bob');
        // Both are in the session's last room: general for new users.
        for (const u of [alice, bob]) {
          await waitActive(u.page, 'room:general');
          expect(await u.page.locator('#chat').getAttribute('data-room-id')).to.equal('general');
        }
        await send(alice.page, 'Hello Bob');
        await waitForMessage(bob.page, 'Hello Bob');
        await send(bob.page, 'Hi Alice, how are you?');
        await waitForMessage(alice.page, 'Hi Alice, how are you?');
        await waitForMessage(bob.page, 'Hi Alice, how are you?');
        await waitForMessage(alice.page, 'Hello Bob');
        // Each message exactly once on both sides (the sender's own copy included), in order.
        for (const u of [alice, bob]) {
          expect(await messageTexts(u.page)).to.deep.equal(['Hello Bob', 'Hi Alice, how are you?']);
          expect(idsAscending(await messageIds(u.page))).to.equal(true);
        }
        const author = bob.page.locator('[data-testid="message"]', { hasText: 'Hello Bob' }).locator('.author');
        expect(await author.textContent()).to.equal('Alice');
      });

      it('shows a message with HTML in it literally and creates no element from it', async () => {
        const alice = await open('alice');
        const bob = await open('bob');
        const evil = '<img src=x onerror=alert(1)><b>bold</b><script>alert(2)</script>';
        await send(alice.page, evil);
        for (const u of [alice, bob]) {
          await waitForMessage(u.page, evil);
          const list = u.page.getByTestId('messages');
          expect(await list.locator('img, b, script').count()).to.equal(0);
          const shown = await list.locator('[data-testid="message-text"]').last().innerText();
          expect(shown).to.equal(evil);
        }
        // afterEach checks that no alert() dialog ran on either page.
      });

      it('a second user sees presence change: online when the first connects, offline when they leave', async () => {
        const bob = await open('bob');
        const carol = await open('carol', 'Carol');
        await presenceUser(bob.page, carol.username).waitFor({ timeout: WAIT });
        expect(await presenceUser(bob.page, carol.username).innerText()).to.contain('Carol');
        await presenceUser(carol.page, bob.username).waitFor({ timeout: WAIT });
        // Closed mid-upgrade (its long-poll answered, the WebSocket not yet taken over), a
        // page leaves no connection to close: the server learns only at the ping timeout
        // (45 s). On a WebSocket, closing the page closes it.
        await carol.page.locator('[data-testid="connection-status"][data-transport="websocket"]').waitFor({ timeout: WAIT });
        await carol.close();
        await presenceUser(bob.page, carol.username).waitFor({ state: 'detached', timeout: WAIT });
        await presenceUser(bob.page, bob.username).waitFor({ timeout: WAIT }); // still there themself
      });
    });
  }

  describe('in-memory server', () => {
    const env = useServer('memory');
    const { open } = env;

    /** A new public room owned by the first user, with every user's page in it (tests that count messages get their own room). */
    const freshRoom = async (...members: BrowserUser[]) => {
      const roomId = uniqueName('room').replace(/_/g, '-');
      await env.server.stores.chat.createRoom({ id: roomId, name: roomId, private: false, owner: members[0]!.username });
      for (const u of members) {
        await u.page.reload();
        await waitConnected(u.page);
        // On a phone the room list is in the drawer.
        if (await u.page.locator('#sidebar-toggle').isVisible()) await u.page.locator('#sidebar-toggle').click();
        await roomItem(u.page, roomId).click();
        await waitActive(u.page, `room:${roomId}`);
      }
      return roomId;
    };

    it('shows form errors next to the field, and keeps what was typed', async () => {
      const context = await browser.newContext({ viewport: DESKTOP });
      try {
        const page = await context.newPage();
        await page.goto(`${env.server.url}/register`);
        await page.getByLabel('Username').fill('No Good!');
        await page.getByLabel('Password').fill('short');
        await page.getByRole('button', { name: 'Create account' }).click();
        const error = page.getByTestId('username-error');
        await error.waitFor({ timeout: WAIT });
        expect(await page.getByLabel('Username').getAttribute('aria-invalid')).to.equal('true');
        expect(await page.getByLabel('Username').inputValue()).to.equal('No Good!');
        expect(await page.getByLabel('Username').getAttribute('aria-describedby')).to.contain('username-error');
        // Login with a wrong password: the form comes back with the error.
        await page.goto(`${env.server.url}/login`);
        await page.getByLabel('Username').fill('nobody_here');
        await page.getByLabel('Password').fill('wrong password');
        await page.getByRole('button', { name: 'Sign in' }).click();
        await page.getByTestId('form-error').waitFor({ timeout: WAIT });
        expect(await page.getByTestId('form-error').innerText()).to.match(/wrong username or password/i);
      } finally {
        await context.close();
      }
    });

    it('Enter sends, Shift+Enter adds a new line, and the counter shows near the limit', async () => {
      const alice = await open('alice');
      await freshRoom(alice);
      const composer = alice.page.getByTestId('composer');
      await composer.click();
      await alice.page.keyboard.type('line one');
      await alice.page.keyboard.press('Shift+Enter');
      await alice.page.keyboard.type('line two');
      expect(await composer.inputValue()).to.equal('line one\nline two');
      expect(await alice.page.getByTestId('message').count()).to.equal(0);
      await alice.page.keyboard.press('Enter');
      await waitForMessage(alice.page, 'line one\nline two');
      expect(await composer.inputValue()).to.equal('');
      // Near the limit a counter appears; over it, Send is disabled and nothing goes out.
      await composer.fill('x'.repeat(1900));
      await alice.page.waitForFunction(() => document.querySelector('#composer-count')?.textContent === '1900 / 2000', null, { timeout: WAIT });
      await composer.fill('x'.repeat(2001));
      await alice.page.locator('[data-testid="send"]:disabled').waitFor({ timeout: WAIT });
      expect(await composer.getAttribute('aria-invalid')).to.equal('true');
      await composer.press('Enter');
      expect(await alice.page.getByTestId('message').count()).to.equal(1);
      // The send button works too.
      await composer.fill('by button');
      await alice.page.getByTestId('send').click();
      await waitForMessage(alice.page, 'by button');
    });

    it('logout in one tab turns the other tab of the same browser to "signed out" at once', async () => {
      const alice = await open('alice');
      const bob = await open('bob');
      const second = await alice.newTab('/chat');
      await waitConnected(second);
      await alice.page.getByTestId('logout').click();
      await alice.page.waitForURL(`${env.server.url}/login`, { timeout: WAIT });
      await second.locator('[data-testid="connection-status"][data-state="ended"]').waitFor({ timeout: WAIT });
      const banner = second.getByTestId('session-ended');
      await banner.waitFor({ timeout: WAIT });
      expect(await banner.getByRole('link', { name: 'Sign in again' }).getAttribute('href')).to.equal('/login');
      expect(await second.getByTestId('composer').isDisabled()).to.equal(true);
      // Another person's browser is not touched, and sees alice go offline (her last tab is gone).
      await presenceUser(bob.page, alice.username).waitFor({ state: 'detached', timeout: WAIT });
      expect(await bob.page.getByTestId('connection-status').getAttribute('data-state')).to.equal('connected');
      // Reloading the ended tab lands on the sign-in page.
      await second.reload();
      expect(second.url()).to.equal(`${env.server.url}/login`);
    });

    it('a password change keeps this browser\'s chat working on its new session, and ends the same user\'s other browser', async () => {
      const alice = await open('alice');
      const bob = await open('bob');
      // Alice also signed in on another device.
      const device = await browser.newContext({ viewport: DESKTOP });
      try {
        const other = await device.newPage();
        await other.goto(`${env.server.url}/login`);
        await other.getByLabel('Username').fill(alice.username);
        await other.getByLabel('Password').fill(PASSWORD);
        await Promise.all([other.waitForURL(`${env.server.url}/chat`), other.getByRole('button', { name: 'Sign in' }).click()]);
        await waitConnected(other);
        // Every state this tab's connection goes through from now on.
        await alice.page.evaluate(() => {
          const status = document.querySelector('[data-testid="connection-status"]') as HTMLElement;
          const seen: string[] = [];
          (window as unknown as { connectionStates: string[] }).connectionStates = seen;
          new MutationObserver(() => seen.push(status.dataset.state ?? '')).observe(status, { attributes: true, attributeFilter: ['data-state'] });
        });
        // The change, from this browser (its session moves to a new id; the old id's socket is ended).
        await alice.page.evaluate(async (current) => {
          const { csrfToken } = (await (await fetch('/api/csrf')).json()) as { csrfToken: string };
          const res = await fetch('/api/password', {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-csrf-token': csrfToken },
            body: JSON.stringify({ currentPassword: current, newPassword: 'a brand new secret' }),
          });
          if (res.status !== 200) throw new Error(`password change answered ${res.status}`);
        }, PASSWORD);
        await other.locator('[data-testid="connection-status"][data-state="ended"]').waitFor({ timeout: WAIT });
        // This tab reconnected on its new session without ever showing "signed out", and chats on.
        await alice.page.waitForFunction(() => {
          const seen = (window as unknown as { connectionStates: string[] }).connectionStates;
          return seen.length > 0 && seen.at(-1) === 'connected';
        }, undefined, { timeout: WAIT });
        const states = await alice.page.evaluate(() => (window as unknown as { connectionStates: string[] }).connectionStates);
        expect(states).to.not.include('ended');
        await send(alice.page, 'still here after the change');
        await waitForMessage(bob.page, 'still here after the change');
      } finally {
        await device.close();
      }
    });

    it('creates a room through the UI, joins rooms by clicking, and a reload restores the last room', async () => {
      const alice = await open('alice');
      const bob = await open('bob');
      const roomId = uniqueName('design').replace(/_/g, '-');
      await alice.page.getByTestId('new-room').click();
      await alice.page.getByLabel('Name', { exact: true }).fill('Design Team');
      await alice.page.getByLabel('Address').fill(roomId);
      await alice.page.getByTestId('create-room').click();
      await waitActive(alice.page, `room:${roomId}`);
      await roomItem(alice.page, roomId).waitFor({ timeout: WAIT });
      expect(await alice.page.locator('#conversation-name').innerText()).to.equal('Design Team');
      await send(alice.page, 'first in the new room');
      await waitForMessage(alice.page, 'first in the new room');

      // The same address again: the error shows next to the field.
      await alice.page.getByTestId('new-room').click();
      await alice.page.getByLabel('Name', { exact: true }).fill('Again');
      await alice.page.getByLabel('Address').fill(roomId);
      await alice.page.getByTestId('create-room').click();
      await alice.page.locator('#new-room-id-error').waitFor({ timeout: WAIT });
      expect(await alice.page.locator('#new-room-id-error').innerText()).to.contain('taken');
      await alice.page.getByRole('button', { name: 'Cancel' }).click();

      // Bob sees the new room (the list refreshes when the window gets focus; a reload shows it too) and joins by clicking.
      await bob.page.reload();
      await waitConnected(bob.page);
      await roomItem(bob.page, roomId).click();
      await waitActive(bob.page, `room:${roomId}`);
      await waitForMessage(bob.page, 'first in the new room');
      await send(bob.page, 'bob was here');
      await waitForMessage(alice.page, 'bob was here');

      // Back to general and again to the room by clicking; the session remembers it across a reload.
      await roomItem(bob.page, 'general').click();
      await waitActive(bob.page, 'room:general');
      await roomItem(bob.page, roomId).click();
      await waitActive(bob.page, `room:${roomId}`);
      await bob.page.reload();
      await waitConnected(bob.page);
      expect(await bob.page.locator('#chat').getAttribute('data-room-id')).to.equal(roomId);
      await waitActive(bob.page, `room:${roomId}`);
      expect(await roomItem(bob.page, roomId).locator('button').getAttribute('aria-current')).to.equal('true');
      await waitForMessage(bob.page, 'bob was here');
      expect(await messageTexts(bob.page)).to.deep.equal(['first in the new room', 'bob was here']);
    });

    it('lets the owner of a private room add and remove members; a removed member is moved out at once', async () => {
      const alice = await open('alice');
      const bob = await open('bob');
      const roomId = uniqueName('secret').replace(/_/g, '-');
      await alice.page.getByTestId('new-room').click();
      await alice.page.getByLabel('Name', { exact: true }).fill('Secret plans');
      await alice.page.getByLabel('Address').fill(roomId);
      await alice.page.getByLabel(/private/i).check();
      await alice.page.getByTestId('create-room').click();
      await waitActive(alice.page, `room:${roomId}`);

      // Not a member yet: Bob does not see the room.
      await bob.page.reload();
      await waitConnected(bob.page);
      expect(await roomItem(bob.page, roomId).count()).to.equal(0);

      const members = alice.page.locator('#members');
      await members.locator('summary').click();
      await alice.page.getByLabel('Username').fill(bob.username);
      await alice.page.getByTestId('member-add').click();
      await alice.page.locator('#member-message', { hasText: 'can now join' }).waitFor({ timeout: WAIT });
      await alice.page.getByLabel('Username').fill('no_such_user_x');
      await alice.page.getByTestId('member-add').click();
      await alice.page.locator('#member-message', { hasText: 'no user' }).waitFor({ timeout: WAIT });

      await bob.page.reload();
      await waitConnected(bob.page);
      await roomItem(bob.page, roomId).click();
      await waitActive(bob.page, `room:${roomId}`);
      expect(await bob.page.locator('#members').isVisible()).to.equal(false); // only the owner manages members
      await send(bob.page, 'thanks for the invite');
      await waitForMessage(alice.page, 'thanks for the invite');

      await alice.page.getByLabel('Username').fill(bob.username);
      await alice.page.getByTestId('member-remove').click();
      await alice.page.locator('#member-message', { hasText: 'was removed' }).waitFor({ timeout: WAIT });
      // room:removed: Bob is told, moved to general, and the room leaves his list; his connection stays up.
      await bob.page.locator('#notice', { hasText: 'removed from' }).waitFor({ timeout: WAIT });
      await waitActive(bob.page, 'room:general');
      await roomItem(bob.page, roomId).waitFor({ state: 'detached', timeout: WAIT });
      expect(await bob.page.getByTestId('connection-status').getAttribute('data-state')).to.equal('connected');
    });

    it('loads older history when scrolled to the top, without gaps or repeats', async () => {
      const alice = await open('alice');
      const roomId = uniqueName('history').replace(/_/g, '-');
      const user = { id: (await env.server.stores.users.findByUsername(alice.username))!.id, username: alice.username, displayName: alice.displayName };
      await env.server.stores.chat.createRoom({ id: roomId, name: 'History', private: false, owner: alice.username });
      const total = 130;
      for (let i = 1; i <= total; i++) await env.server.stores.chat.append(roomConversation(roomId), { roomId, user, text: `seed ${i}` });

      await alice.page.reload();
      await waitConnected(alice.page);
      await roomItem(alice.page, roomId).click();
      await waitActive(alice.page, `room:${roomId}`);
      await waitForMessage(alice.page, `seed ${total}`);
      const first = await messageTexts(alice.page);
      expect(first).to.have.length(50);
      expect(first[0]).to.equal(`seed ${total - 49}`);

      // Scroll to the top, page after page, until the start of the room shows.
      for (const expected of [100, total]) {
        await alice.page.locator('#scroller').evaluate((el) => el.scrollTo({ top: 0 }));
        await alice.page.waitForFunction((n) => document.querySelectorAll('[data-testid="message"][data-message-id]').length >= n, expected, {
          timeout: WAIT,
        });
      }
      await alice.page.locator('#history-start').waitFor({ timeout: WAIT });
      const texts = await messageTexts(alice.page);
      expect(texts).to.deep.equal(Array.from({ length: total }, (_, i) => `seed ${i + 1}`));
      const ids = await messageIds(alice.page);
      expect(new Set(ids).size).to.equal(total);
      expect(idsAscending(ids)).to.equal(true);
    });

    it('sends direct messages between two users, picked from the presence list', async () => {
      const alice = await open('alice', { displayName: 'Alice' });
      const bob = await open('bob', { displayName: 'Bob' });
      await presenceUser(alice.page, bob.username).click();
      await waitActive(alice.page, `dm:${bob.username}`);
      expect(await alice.page.locator('#conversation-name').innerText()).to.equal('Bob');
      await send(alice.page, 'psst, just between us');
      await waitForMessage(alice.page, 'psst, just between us');

      // Bob is in general: the conversation appears in his list with an unread badge.
      const dm = bob.page.locator(`[data-testid="dm"][data-username="${alice.username}"]`);
      await dm.locator('[data-testid="unread"]').waitFor({ timeout: WAIT });
      expect(await dm.locator('[data-testid="unread"]').innerText()).to.equal('1');
      expect(await bob.page.getByTestId('messages').innerText()).not.to.contain('psst');
      await dm.click();
      await waitActive(bob.page, `dm:${alice.username}`);
      await waitForMessage(bob.page, 'psst, just between us');
      await dm.locator('[data-testid="unread"]').waitFor({ state: 'detached', timeout: WAIT });
      await send(bob.page, 'got it');
      await waitForMessage(alice.page, 'got it');
      for (const u of [alice, bob]) expect(await messageTexts(u.page)).to.deep.equal(['psst, just between us', 'got it']);
      // The room did not get them.
      await roomItem(alice.page, 'general').click();
      await waitActive(alice.page, 'room:general');
      expect(await messageTexts(alice.page)).not.to.include('got it');
    });

    it('reacts to a message and shows the whole reaction map to the others', async () => {
      const alice = await open('alice');
      const bob = await open('bob');
      await send(alice.page, 'react to me');
      await waitForMessage(bob.page, 'react to me');
      const onBob = bob.page.locator('[data-testid="message"]', { hasText: 'react to me' });
      await onBob.hover();
      await onBob.locator('button.react[data-emoji="🎉"]').click();
      const onAlice = alice.page.locator('[data-testid="message"]', { hasText: 'react to me' });
      const chip = onAlice.locator('[data-testid="reaction"][data-emoji="🎉"]');
      await chip.waitFor({ timeout: WAIT });
      expect(await chip.innerText()).to.contain('1');
      expect(await chip.getAttribute('aria-pressed')).to.equal('false');
      // Alice adds hers by clicking the chip; Bob sees 2 and that he is in it.
      await chip.click();
      const bobChip = onBob.locator('[data-testid="reaction"][data-emoji="🎉"]');
      await bob.page.waitForFunction(
        () => document.querySelector('[data-testid="reaction"][data-emoji="🎉"] .n')?.textContent === '2',
        null,
        { timeout: WAIT },
      );
      expect(await bobChip.getAttribute('aria-pressed')).to.equal('true');

      // Keyboard only: the reaction toggle is reachable, Enter opens the choices, Enter picks the first (👍).
      await alice.page.mouse.move(0, 0);
      await onAlice.locator('button.react-toggle').focus();
      expect(await onAlice.locator('button.react-toggle').evaluate((el) => el === document.activeElement)).to.equal(true);
      await alice.page.keyboard.press('Enter');
      expect(await onAlice.locator('button.react-toggle').getAttribute('aria-expanded')).to.equal('true');
      await alice.page.keyboard.press('Enter');
      await onBob.locator('[data-testid="reaction"][data-emoji="👍"]').waitFor({ timeout: WAIT });
    });

    it('reconnects after losing the connection and catches up without duplicates', async () => {
      const alice = await open('alice');
      const bob = await open('bob');
      await freshRoom(alice, bob);
      await send(bob.page, 'before the outage');
      await waitForMessage(alice.page, 'before the outage');

      await alice.context.setOffline(true);
      await alice.page.locator('[data-testid="connection-status"][data-state="disconnected"]').waitFor({ timeout: WAIT });
      // Written while offline: shown at once as waiting, sent after reconnecting.
      await send(alice.page, 'typed while offline');
      await alice.page.locator('[data-testid="message"][data-status="waiting"]').waitFor({ timeout: WAIT });
      for (const text of ['missed one', 'missed two', 'missed three']) {
        await send(bob.page, text);
        await waitForMessage(bob.page, text);
      }
      await alice.context.setOffline(false);
      await waitConnected(alice.page);
      await waitForMessage(alice.page, 'typed while offline');
      await waitForMessage(bob.page, 'typed while offline');
      const expected = ['before the outage', 'missed one', 'missed two', 'missed three', 'typed while offline'];
      expect(await messageTexts(alice.page)).to.deep.equal(expected);
      expect(await messageTexts(bob.page)).to.deep.equal(expected);
      expect(idsAscending(await messageIds(alice.page))).to.equal(true);
    });

    /** Stores `texts` in a room directly, as `author` (no send limit, no live events), oldest first. */
    const seed = async (roomId: string, author: BrowserUser, texts: string[]) => {
      const user = { id: (await env.server.stores.users.findByUsername(author.username))!.id, username: author.username, displayName: author.displayName };
      for (const text of texts) await env.server.stores.chat.append(roomConversation(roomId), { roomId, user, text });
    };

    /**
     * Alice sees Bob's "before the outage" in a fresh room, goes offline, misses `count`
     * messages ("missed 1", ...) and comes back. Resolves when her page is connected
     * again and shows the last one, with the history acks her page got since the outage.
     */
    const missWhileOffline = async (count: number) => {
      const alice = await open('alice');
      const bob = await open('bob');
      const roomId = await freshRoom(alice, bob);
      await send(bob.page, 'before the outage');
      await waitForMessage(alice.page, 'before the outage');
      const acks = watchHistoryAcks(alice.page);
      await alice.context.setOffline(true);
      await alice.page.locator('[data-testid="connection-status"][data-state="disconnected"]').waitFor({ timeout: WAIT });
      const missed = Array.from({ length: count }, (_, i) => `missed ${i + 1}`);
      await seed(roomId, bob, missed);
      await alice.context.setOffline(false);
      await waitConnected(alice.page);
      await waitForMessage(alice.page, missed.at(-1)!);
      return { page: alice.page, missed, acks };
    };

    it('after missing more than 100 messages, catches up page by page: all of them, in order, no duplicates', async () => {
      const { page, missed, acks } = await missWhileOffline(250);
      expect(await messageTexts(page)).to.deep.equal(['before the outage', ...missed]);
      const ids = await messageIds(page);
      expect(new Set(ids).size).to.equal(ids.length);
      expect(idsAscending(ids)).to.equal(true);
      // No acknowledgement carried more than one page: the gap came in pages of at most 100.
      const sizes = await acks.settled();
      expect(sizes.reduce((a, b) => a + b, 0), `pages ${sizes.join(', ')}`).to.be.at.least(missed.length);
      expect(Math.max(...sizes), `pages ${sizes.join(', ')}`).to.be.at.most(100);
    });

    it('after missing more than it keeps (300), shows the newest page and loads the rest back on scroll, without a hole', async () => {
      const { page, missed } = await missWhileOffline(350);
      const shown = await messageTexts(page);
      expect(shown).to.not.include('before the outage');
      expect(shown).to.deep.equal(missed.slice(-shown.length));

      // Scroll back, page after page, until the message from before the outage shows.
      await page.waitForFunction(
        () => {
          document.querySelector('#scroller')?.scrollTo({ top: 0 });
          return [...document.querySelectorAll('[data-testid="message-text"]')].some((m) => m.textContent === 'before the outage');
        },
        null,
        { timeout: WAIT, polling: 200 },
      );
      expect(await messageTexts(page)).to.deep.equal(['before the outage', ...missed]);
      expect(idsAscending(await messageIds(page))).to.equal(true);
    });

    it('shows typing, display-name changes from settings, and the theme kept per device', async () => {
      const alice = await open('alice', { displayName: 'Alice' });
      const bob = await open('bob', { displayName: 'Bob' });
      await alice.page.getByTestId('composer').click();
      await alice.page.keyboard.type('I am typing');
      await bob.page.waitForFunction(() => document.querySelector('[data-testid="typing"]')?.textContent === 'Alice is typing…', null, {
        timeout: WAIT,
      });
      await alice.page.keyboard.press('Enter');
      await bob.page.waitForFunction(() => document.querySelector('[data-testid="typing"]')?.textContent === '', null, { timeout: WAIT });

      // Settings in a second tab: the open chat tab updates the name and theme without a reload.
      const settings = await alice.newTab('/settings');
      await settings.getByLabel('Display name').fill('Alice Cooper');
      await settings.getByLabel('Theme on this device').selectOption('dark');
      await settings.getByRole('button', { name: 'Save' }).click();
      await settings.getByTestId('saved').waitFor({ timeout: WAIT });
      expect(await settings.locator('html').getAttribute('data-theme')).to.equal('dark');
      await alice.page.waitForFunction(() => document.querySelector('[data-testid="me"]')?.textContent === 'Alice Cooper', null, { timeout: WAIT });
      await alice.page.locator('html[data-theme="dark"]').waitFor({ state: 'attached', timeout: WAIT });
      // The theme is this device's: Bob's page keeps following the system.
      expect(await bob.page.locator('html').getAttribute('data-theme')).to.equal('system');
    });

    it('looks right at desktop and phone widths (screenshots in test-artifacts/)', async () => {
      const alice = await open('alice', { displayName: 'Alice Liddell' });
      const bob = await open('bob', { displayName: 'Bob', context: { viewport: PHONE, isMobile: true, hasTouch: true, deviceScaleFactor: 2 } });
      await freshRoom(alice, bob);
      await send(alice.page, 'Morning! Did the deploy go out?');
      await send(bob.page, 'Yes, at 9. Dashboards look calm so far.');
      await waitForMessage(alice.page, 'Yes, at 9. Dashboards look calm so far.');
      await send(alice.page, 'Great. I will write the release notes.\nAnything special to mention?');
      await send(alice.page, 'A long one to see wrapping: ' + 'lorem ipsum dolor sit amet '.repeat(8) + 'https://example.com/a/very/long/url/that/should/wrap/without/overflowing/the/column');
      await waitForMessage(bob.page, 'Great. I will write the release notes.\nAnything special to mention?');
      const onBob = bob.page.locator('[data-testid="message"]', { hasText: 'Morning!' });
      await onBob.locator('button.react-toggle').click();
      await onBob.locator('button.react[data-emoji="👍"]').click();
      await alice.page.locator('[data-testid="reaction"][data-emoji="👍"]').waitFor({ timeout: WAIT });
      await bob.page.getByTestId('composer').fill('Only the new logging flag');
      await alice.page.getByTestId('typing').filter({ hasText: 'Bob is typing' }).waitFor({ timeout: WAIT });
      await presenceUser(alice.page, bob.username).waitFor({ timeout: WAIT });

      await alice.page.screenshot({ path: artifactPath('chat-desktop.png') });
      await bob.page.screenshot({ path: artifactPath('chat-phone.png') });

      // Phone: nothing wider than the screen; the composer and Send are on screen; the side panel is a drawer.
      const phone = bob.page;
      expect(await phone.evaluate(() => document.documentElement.scrollWidth)).to.be.at.most(PHONE.width);
      const sendBox = await phone.getByTestId('send').boundingBox();
      expect(sendBox).to.not.equal(null);
      expect(sendBox!.x + sendBox!.width).to.be.at.most(PHONE.width);
      expect(sendBox!.y + sendBox!.height).to.be.at.most(PHONE.height);
      expect(await phone.getByTestId('room-list').isVisible()).to.equal(false);
      await phone.getByRole('button', { name: /rooms/i }).click();
      await phone.getByTestId('room-list').waitFor({ timeout: WAIT });
      await phone.screenshot({ path: artifactPath('chat-phone-drawer.png') });
      await phone.keyboard.press('Escape');
      await phone.getByTestId('room-list').waitFor({ state: 'hidden', timeout: WAIT });

      // Desktop: everything side by side, nothing overflowing.
      expect(await alice.page.evaluate(() => document.documentElement.scrollWidth)).to.be.at.most(DESKTOP.width);
      expect(await alice.page.getByTestId('room-list').isVisible()).to.equal(true);
      expect(await alice.page.getByTestId('presence').isVisible()).to.equal(true);

      // The dark theme, and the sign-in page on a phone.
      await alice.page.emulateMedia({ colorScheme: 'dark' });
      await alice.page.screenshot({ path: artifactPath('chat-desktop-dark.png') });
      const anon = await browser.newContext({ viewport: PHONE, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
      try {
        const login = await anon.newPage();
        await login.goto(`${env.server.url}/login`);
        await login.screenshot({ path: artifactPath('login-phone.png') });
        expect(await login.evaluate(() => document.documentElement.scrollWidth)).to.be.at.most(PHONE.width);
      } finally {
        await anon.close();
      }
    });
  });
});
