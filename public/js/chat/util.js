// @ts-check
/** Small pure helpers: message ids, dates, text length. */

/**
 * Message ids are `<ms>-<seq>`; they sort in time order, numerically.
 * @param {string} a @param {string} b
 */
export function compareIds(a, b) {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am - bm || as - bs;
}

/** Characters as the server counts them (code points, so an emoji is one). @param {string} s */
export const charCount = (s) => [...s].length;

/** A fresh id for matching an optimistic message with the stored one. */
export function newClientMsgId() {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** The local calendar day of an ISO time, as `YYYY-MM-DD`. @param {string} iso */
export function dayKey(iso) {
  const d = new Date(iso);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' });
const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'medium' });

/** "Today", "Yesterday", or the full date. @param {string} iso */
export function dayLabel(iso) {
  const key = dayKey(iso);
  const now = new Date();
  if (key === dayKey(now.toISOString())) return 'Today';
  const yesterday = new Date(now.getFullYear(), now.getMonth(), now.getDate() - 1, 12);
  if (key === dayKey(yesterday.toISOString())) return 'Yesterday';
  return dayFormat.format(new Date(iso));
}

/** @param {string} iso */
export const timeLabel = (iso) => timeFormat.format(new Date(iso));
/** @param {string} iso */
export const fullTimeLabel = (iso) => fullFormat.format(new Date(iso));

/** The other participant of a direct message, seen from `me`. @param {{ user: { username: string }, to?: string }} m @param {string} me */
export function dmPartner(m, me) {
  return m.user.username === me ? (m.to ?? me) : m.user.username;
}

/** A room address made from a name: lower case, a-z 0-9 and single dashes, at most 32. @param {string} name */
export function slugify(name) {
  return name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 32)
    .replace(/-+$/, '');
}
