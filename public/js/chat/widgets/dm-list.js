// @ts-check
import { h } from '../dom.js';
import { keepingFocus, markCurrent, navButton, onItemClick, setUnreadBadge } from './nav.js';

/** Direct-message conversations of this page (kept per user in localStorage, so they survive a reload). */
export class DmList {
  /** @param {HTMLUListElement} list @param {HTMLElement} empty @param {string} me @param {(username: string) => void} onSelect */
  constructor(list, empty, me, onSelect) {
    this.list = list;
    this.empty = empty;
    this.storageKey = `live-chat:dms:${me}`;
    /** @type {Map<string, { username: string, displayName: string, unread: number }>} */
    this.entries = new Map();
    /** @type {string | null} */
    this.active = null;
    onItemClick(list, 'username', onSelect);
    for (const saved of this.load()) this.entries.set(saved.username, { ...saved, unread: 0 });
    this.render();
  }

  /** @returns {{ username: string, displayName: string }[]} */
  load() {
    try {
      const raw = JSON.parse(localStorage.getItem(this.storageKey) ?? '[]');
      return Array.isArray(raw) ? raw.filter((e) => typeof e?.username === 'string' && typeof e?.displayName === 'string') : [];
    } catch {
      return [];
    }
  }

  save() {
    try {
      const keep = [...this.entries.values()].slice(0, 30).map(({ username, displayName }) => ({ username, displayName }));
      localStorage.setItem(this.storageKey, JSON.stringify(keep));
    } catch {
      // Storage full or disabled: the list just does not survive a reload.
    }
  }

  /** @param {string} username */
  get(username) {
    return this.entries.get(username);
  }

  /** Adds (or renames) a conversation. @param {string} username @param {string} displayName */
  ensure(username, displayName) {
    const entry = this.entries.get(username);
    if (entry && entry.displayName === displayName) return;
    this.entries.set(username, { username, displayName, unread: entry?.unread ?? 0 });
    this.save();
    this.render();
  }

  /** @param {string} username @param {number} unread */
  setUnread(username, unread) {
    const entry = this.entries.get(username);
    if (!entry) return;
    entry.unread = unread;
    const li = this.list.querySelector(`li[data-username="${CSS.escape(username)}"]`);
    if (li instanceof HTMLElement) setUnreadBadge(li, unread);
  }

  /** @param {string | null} username */
  setActive(username) {
    this.active = username;
    markCurrent(this.list, 'username', username);
  }

  render() {
    keepingFocus(this.list, 'username', () => this.renderItems());
  }

  renderItems() {
    this.list.replaceChildren(
      ...[...this.entries.values()].map((e) => {
        const li = h('li', { class: 'dm', attrs: { 'data-testid': 'dm' }, data: { username: e.username } });
        li.append(navButton({ sigil: '@', label: e.displayName, extra: [h('span', { class: 'handle', text: `@${e.username}` })] }));
        setUnreadBadge(li, e.unread);
        return li;
      }),
    );
    this.empty.hidden = this.entries.size > 0;
    this.setActive(this.active);
  }
}
