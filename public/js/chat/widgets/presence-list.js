// @ts-check
import { h } from '../dom.js';
import { keepingFocus, onItemClick } from './nav.js';

/** @typedef {import('../types.js').User} User */

/** Who is online (`presence`): each a button that opens a direct message. */
export class PresenceList {
  /**
   * @param {HTMLUListElement} list
   * @param {HTMLElement} count
   * @param {HTMLDataListElement} options usernames offered when adding members
   * @param {string} me
   * @param {(username: string) => void} onPick
   */
  constructor(list, count, options, me, onPick) {
    this.list = list;
    this.count = count;
    this.options = options;
    this.me = me;
    onItemClick(list, 'username', onPick);
  }

  /** @param {User[]} users everyone online */
  render(users) {
    keepingFocus(this.list, 'username', () => this.renderItems(users));
  }

  /** @param {User[]} online */
  renderItems(online) {
    const users = [...online].sort((a, b) => (a.username === this.me ? -1 : b.username === this.me ? 1 : a.displayName.localeCompare(b.displayName)));
    this.list.replaceChildren(
      ...users.map((u) => {
        const self = u.username === this.me;
        const li = h('li', { class: 'person', attrs: { 'data-testid': 'presence-user' }, data: { username: u.username } });
        const button = h(
          'button',
          { class: 'nav-item', attrs: { type: 'button', title: self ? 'Notes to yourself' : `Message ${u.displayName}` } },
          h('span', { class: 'online-dot', attrs: { 'aria-hidden': 'true' } }),
          h('span', { class: 'label', text: u.displayName }),
          self ? h('span', { class: 'you', text: '(you)' }) : h('span', { class: 'handle', text: `@${u.username}` }),
        );
        button.setAttribute('aria-label', self ? `${u.displayName} (you): notes to yourself` : `${u.displayName} (@${u.username}): send a direct message`);
        li.append(button);
        return li;
      }),
    );
    this.count.textContent = users.length ? `(${users.length})` : '';
    this.options.replaceChildren(...users.filter((u) => u.username !== this.me).map((u) => h('option', { attrs: { value: u.username } })));
  }
}
