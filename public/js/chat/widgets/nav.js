// @ts-check
/** What the sidebar lists (rooms, direct messages, people) share: their buttons, focus and current item. */
import { h } from '../dom.js';

/** A sidebar entry: a button filling a list item. @param {{ sigil: string, label: string, extra?: (Node | string | null)[] }} o */
export function navButton({ sigil, label, extra = [] }) {
  return h(
    'button',
    { class: 'nav-item', attrs: { type: 'button' } },
    h('span', { class: 'sigil', text: sigil, attrs: { 'aria-hidden': 'true' } }),
    h('span', { class: 'label', text: label }),
    ...extra,
  );
}

/**
 * Re-renders a list without losing keyboard focus: the item with the same key
 * (a data attribute of the <li>) gets its focus back.
 * @param {HTMLElement} list @param {'roomId' | 'username'} key @param {() => void} render
 */
export function keepingFocus(list, key, render) {
  const focused = document.activeElement;
  const li = focused instanceof HTMLElement && list.contains(focused) ? focused.closest('li') : null;
  const which = li instanceof HTMLElement ? li.dataset[key] : undefined;
  render();
  if (which === undefined) return;
  for (const item of list.querySelectorAll('li')) {
    if (item instanceof HTMLElement && item.dataset[key] === which) item.querySelector('button')?.focus();
  }
}

/**
 * Marks the button of the item whose data attribute `key` is `value` as the current one (`aria-current`), and no other.
 * @param {HTMLElement} list @param {'roomId' | 'username'} key @param {string | null} value
 */
export function markCurrent(list, key, value) {
  const attr = key === 'roomId' ? 'data-room-id' : 'data-username';
  for (const li of list.querySelectorAll(`li[${attr}]`)) {
    const button = li.querySelector('button');
    if (!button) continue;
    if (li instanceof HTMLElement && li.dataset[key] === value) button.setAttribute('aria-current', 'true');
    else button.removeAttribute('aria-current');
  }
}

/**
 * Calls `onSelect` with the data attribute `key` of the list item clicked.
 * @param {HTMLElement} list @param {'roomId' | 'username'} key @param {(value: string) => void} onSelect
 */
export function onItemClick(list, key, onSelect) {
  const attr = key === 'roomId' ? 'data-room-id' : 'data-username';
  list.addEventListener('click', (event) => {
    const li = event.target instanceof Element ? event.target.closest(`li[${attr}]`) : null;
    const value = li instanceof HTMLElement ? li.dataset[key] : undefined;
    if (value) onSelect(value);
  });
}

/** @param {HTMLElement} li @param {number} unread */
export function setUnreadBadge(li, unread) {
  const button = li.querySelector('button');
  if (!button) return;
  let badge = button.querySelector('.badge');
  if (!unread) {
    badge?.remove();
    return;
  }
  if (!badge) button.append((badge = h('span', { class: 'badge', attrs: { 'data-testid': 'unread' } })));
  badge.textContent = String(unread);
  badge.setAttribute('aria-label', `${unread} unread`);
}
