// @ts-check
/**
 * The settings page without reloads: signing out a session (or every other one)
 * goes through the API and removes its rows; the relative times stay current.
 * Without this script the same forms post to the server and the page comes back.
 */
import { api } from './chat/api.js';

const list = document.querySelector('[data-testid="session-list"]');
const notice = document.getElementById('sessions-notice');
const error = document.getElementById('sessions-error');
const othersHint = document.getElementById('revoke-others-hint');

/** @param {string} text @param {boolean} [failed] */
function say(text, failed = false) {
  if (notice) notice.textContent = failed ? '' : text;
  if (error) {
    error.textContent = failed ? text : '';
    error.hidden = !failed;
  }
}

/** Removes these rows, and says so when this device is the only one left. @param {Element[]} rows */
function removeRows(rows) {
  for (const row of rows) row.remove();
  if (othersHint && !list?.querySelector('[data-testid="session-row"]:not([data-current="true"])')) {
    othersHint.textContent = 'You are signed in on this device only.';
  }
}

document.addEventListener('submit', async (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !list) return;
  const one = form.classList.contains('session-revoke');
  if (!one && !form.classList.contains('revoke-others')) return;
  event.preventDefault();
  const button = form.querySelector('button');
  if (button) button.disabled = true;
  const id = form.dataset.sessionId ?? '';
  const res = one
    ? await api('DELETE', `/api/sessions/${encodeURIComponent(id)}`)
    : await api('POST', '/api/sessions/revoke-others');
  if (button) button.disabled = false;
  // This session has ended, or moved to a new id (and CSRF token) in another tab: the page again tells which.
  if (res.status === 401 || (!res.ok && res.error.code === 'csrf')) return location.reload();
  // A session that has already ended is as good as signed out.
  if (!res.ok && !(one && res.status === 404)) return say(res.error.message, true);
  const rows = [...list.querySelectorAll('[data-testid="session-row"]')].filter(
    (row) => row instanceof HTMLElement && (one ? row.dataset.sessionId === id : row.dataset.current !== 'true'),
  );
  removeRows(rows);
  say(one ? 'Signed out of that session.' : 'Signed out of every other session.');
  // The button that had focus may be gone.
  const others = document.querySelector('[data-testid="revoke-others"]');
  if (others instanceof HTMLButtonElement) others.focus();
});

const relative = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });
/** @type {Array<[Intl.RelativeTimeFormatUnit, number]>} */
const UNITS = [
  ['year', 365 * 86400],
  ['month', 30 * 86400],
  ['day', 86400],
  ['hour', 3600],
  ['minute', 60],
];

/** As the server words it (src/web/relative-time.ts). @param {number} seconds */
function ago(seconds) {
  if (Math.abs(seconds) < 45) return 'just now';
  const [unit, size] = UNITS.find(([, s]) => Math.abs(seconds) >= s) ?? ['minute', 60];
  return relative.format(Math.trunc(seconds / size) || Math.sign(seconds), unit);
}

setInterval(() => {
  for (const el of document.querySelectorAll('time[data-relative]')) {
    if (el instanceof HTMLTimeElement) el.textContent = ago((Date.parse(el.dateTime) - Date.now()) / 1000);
  }
}, 30_000);
