// @ts-check
import { api } from './api.js';
import { h } from './dom.js';
import { slugify } from './util.js';

/** @typedef {import('./types.js').Room} Room */
/** @typedef {import('./types.js').User} User */

/** A sidebar entry: a button filling a list item. @param {{ sigil: string, label: string, extra?: (Node | string | null)[] }} o */
function navButton({ sigil, label, extra = [] }) {
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
function keepingFocus(list, key, render) {
  const focused = document.activeElement;
  const li = focused instanceof HTMLElement && list.contains(focused) ? focused.closest('li') : null;
  const which = li instanceof HTMLElement ? li.dataset[key] : undefined;
  render();
  if (which === undefined) return;
  for (const item of list.querySelectorAll('li')) {
    if (item instanceof HTMLElement && item.dataset[key] === which) item.querySelector('button')?.focus();
  }
}

/** @param {HTMLElement} li @param {number} unread */
function setUnreadBadge(li, unread) {
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

/** The `room-list`: public rooms and the private ones I am in. */
export class RoomList {
  /** @param {HTMLUListElement} list @param {(roomId: string) => void} onSelect */
  constructor(list, onSelect) {
    this.list = list;
    /** @type {Map<string, Room>} */
    this.rooms = new Map();
    /** @type {string | null} */
    this.active = null;
    list.addEventListener('click', (event) => {
      const li = event.target instanceof Element ? event.target.closest('li[data-room-id]') : null;
      if (li instanceof HTMLElement && li.dataset.roomId) onSelect(li.dataset.roomId);
    });
  }

  /** @param {Room[]} rooms */
  set(rooms) {
    const same =
      rooms.length === this.rooms.size &&
      rooms.every((r) => {
        const old = this.rooms.get(r.id);
        return old && old.name === r.name && old.private === r.private && old.owner === r.owner;
      });
    this.rooms = new Map(rooms.map((r) => [r.id, r]));
    if (same && this.list.children.length === rooms.length) return;
    keepingFocus(this.list, 'roomId', () => this.render(rooms));
  }

  /** @param {Room[]} rooms */
  render(rooms) {
    this.list.replaceChildren(
      ...rooms.map((room) => {
        const li = h('li', { class: 'room', attrs: { 'data-testid': 'room' }, data: { roomId: room.id } });
        li.append(
          navButton({
            sigil: room.private ? '🔒' : '#',
            label: room.name,
            extra: [room.private ? h('span', { class: 'visually-hidden', text: ' (private)' }) : null],
          }),
        );
        return li;
      }),
    );
    this.setActive(this.active);
  }

  /** @param {Room} room */
  add(room) {
    const rooms = [...this.rooms.values()].filter((r) => r.id !== room.id);
    rooms.push(room);
    rooms.sort((a, b) => (a.id === 'general' ? -1 : b.id === 'general' ? 1 : a.id < b.id ? -1 : 1));
    this.set(rooms);
  }

  /** @param {string} roomId */
  get(roomId) {
    return this.rooms.get(roomId);
  }

  /** @param {string | null} roomId */
  setActive(roomId) {
    this.active = roomId;
    for (const li of this.list.querySelectorAll('li[data-room-id]')) {
      const button = li.querySelector('button');
      if (!button) continue;
      if (li instanceof HTMLElement && li.dataset.roomId === roomId) button.setAttribute('aria-current', 'true');
      else button.removeAttribute('aria-current');
    }
  }

  /** Reads the list again from the server (rooms appear, private rooms I was added to or removed from). */
  async refresh() {
    const res = await api('GET', '/api/rooms');
    if (res.ok && Array.isArray(res.data?.rooms)) this.set(res.data.rooms);
    return res.ok;
  }
}

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
    list.addEventListener('click', (event) => {
      const li = event.target instanceof Element ? event.target.closest('li[data-username]') : null;
      if (li instanceof HTMLElement && li.dataset.username) onSelect(li.dataset.username);
    });
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
    for (const li of this.list.querySelectorAll('li[data-username]')) {
      const button = li.querySelector('button');
      if (!button) continue;
      if (li instanceof HTMLElement && li.dataset.username === username) button.setAttribute('aria-current', 'true');
      else button.removeAttribute('aria-current');
    }
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

/** Who is online (`presence`): each a button that opens a direct message. */
export class PresenceList {
  /**
   * @param {HTMLUListElement} list
   * @param {HTMLElement} count
   * @param {HTMLDataListElement} options usernames offered when adding members
   * @param {string} me
   * @param {(user: User) => void} onPick
   */
  constructor(list, count, options, me, onPick) {
    this.list = list;
    this.count = count;
    this.options = options;
    this.me = me;
    /** @type {Map<string, User>} */
    this.users = new Map();
    list.addEventListener('click', (event) => {
      const li = event.target instanceof Element ? event.target.closest('li[data-username]') : null;
      const user = li instanceof HTMLElement && li.dataset.username ? this.users.get(li.dataset.username) : undefined;
      if (user) onPick(user);
    });
  }

  /** @param {User[]} users */
  reset(users) {
    this.users = new Map(users.map((u) => [u.username, u]));
    this.render();
  }

  /** @param {User} user @param {boolean} online */
  set(user, online) {
    if (online) this.users.set(user.username, user);
    else this.users.delete(user.username);
    this.render();
  }

  /** @param {string} username */
  get(username) {
    return this.users.get(username);
  }

  render() {
    keepingFocus(this.list, 'username', () => this.renderItems());
  }

  renderItems() {
    const users = [...this.users.values()].sort((a, b) =>
      a.username === this.me ? -1 : b.username === this.me ? 1 : a.displayName.localeCompare(b.displayName),
    );
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

/** The "New room" form: POST /api/rooms, errors next to the field, then the room opens. */
export class NewRoomForm {
  /**
   * @param {{ form: HTMLFormElement, toggle: HTMLButtonElement, cancel: HTMLButtonElement, name: HTMLInputElement,
   *   id: HTMLInputElement, isPrivate: HTMLInputElement, idError: HTMLElement, formError: HTMLElement }} el
   * @param {(room: Room) => void} onCreated
   */
  constructor(el, onCreated) {
    this.el = el;
    this.onCreated = onCreated;
    this.idTouched = false;
    el.toggle.addEventListener('click', () => (el.form.hidden ? this.open() : this.close()));
    el.cancel.addEventListener('click', () => this.close());
    el.form.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') this.close();
    });
    el.name.addEventListener('input', () => {
      if (!this.idTouched) el.id.value = slugify(el.name.value);
    });
    el.id.addEventListener('input', () => {
      this.idTouched = el.id.value !== '';
      this.showIdError('');
    });
    el.form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.submit();
    });
  }

  open() {
    this.el.form.hidden = false;
    this.el.toggle.setAttribute('aria-expanded', 'true');
    this.el.name.focus();
  }

  close() {
    const { form, toggle } = this.el;
    form.reset();
    this.idTouched = false;
    this.showIdError('');
    this.el.formError.hidden = true;
    form.hidden = true;
    toggle.setAttribute('aria-expanded', 'false');
    toggle.focus();
  }

  /** @param {string} message */
  showIdError(message) {
    const { id, idError } = this.el;
    idError.textContent = message;
    idError.hidden = !message;
    if (message) {
      id.setAttribute('aria-invalid', 'true');
      id.setAttribute('aria-describedby', 'new-room-id-error new-room-id-hint');
    } else {
      id.removeAttribute('aria-invalid');
      id.setAttribute('aria-describedby', 'new-room-id-hint');
    }
  }

  async submit() {
    const { name, id, isPrivate, formError, form } = this.el;
    formError.hidden = true;
    const roomId = id.value.trim() || slugify(name.value);
    id.value = roomId;
    if (!/^[a-z0-9-]{1,32}$/.test(roomId)) {
      this.showIdError('Use 1-32 of a-z, 0-9 and -.');
      id.focus();
      return;
    }
    const submit = form.querySelector('button[type="submit"]');
    if (submit instanceof HTMLButtonElement) submit.disabled = true;
    const body = { id: roomId, private: isPrivate.checked, ...(name.value.trim() && { name: name.value.trim() }) };
    const res = await api('POST', '/api/rooms', body);
    if (submit instanceof HTMLButtonElement) submit.disabled = false;
    if (res.ok) {
      const room = /** @type {Room} */ (res.data.room);
      form.reset();
      this.idTouched = false;
      form.hidden = true;
      this.el.toggle.setAttribute('aria-expanded', 'false');
      this.onCreated(room);
      return;
    }
    if (res.error.code === 'room_exists') {
      this.showIdError(`#${roomId} is taken; choose another address.`);
      id.focus();
    } else if (res.error.code === 'bad_request') {
      this.showIdError(res.error.message.replace(/^[^:]+: /, ''));
      id.focus();
    } else {
      formError.textContent = res.error.message;
      formError.hidden = false;
    }
  }
}

/** Owner-only member management of a private room (POST/DELETE /api/rooms/:id/members). */
export class MembersPanel {
  /** @param {HTMLDetailsElement} details @param {HTMLFormElement} form @param {HTMLInputElement} input @param {HTMLElement} message */
  constructor(details, form, input, message) {
    this.details = details;
    this.input = input;
    this.message = message;
    /** @type {string | null} */
    this.roomId = null;
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const op = event.submitter instanceof HTMLButtonElement ? event.submitter.value : 'add';
      void this.run(op === 'remove' ? 'remove' : 'add');
    });
  }

  /** Shows the panel for a private room I own, hides it otherwise. @param {Room | undefined} room @param {string} me */
  showFor(room, me) {
    const mine = Boolean(room && room.private && room.owner === me);
    this.details.hidden = !mine;
    if (this.roomId !== (room?.id ?? null)) {
      this.details.open = false;
      this.say('', false);
    }
    this.roomId = mine && room ? room.id : null;
  }

  /** @param {string} text @param {boolean} error */
  say(text, error) {
    this.message.textContent = text;
    this.message.classList.toggle('error', error);
    this.message.classList.toggle('hint', !error);
    if (error) this.input.setAttribute('aria-invalid', 'true');
    else this.input.removeAttribute('aria-invalid');
  }

  /** @param {'add' | 'remove'} op */
  async run(op) {
    const roomId = this.roomId;
    const username = this.input.value.trim().replace(/^@/, '').toLowerCase();
    if (!roomId) return;
    if (!/^[a-z0-9_]{3,32}$/.test(username)) {
      this.say('Enter a username (3-32 of a-z, 0-9 and _).', true);
      this.input.focus();
      return;
    }
    const path = `/api/rooms/${encodeURIComponent(roomId)}/members`;
    const res = op === 'add' ? await api('POST', path, { username }) : await api('DELETE', `${path}/${encodeURIComponent(username)}`);
    if (res.ok) {
      this.say(op === 'add' ? `@${username} can now join #${roomId}.` : `@${username} was removed from #${roomId}.`, false);
      this.input.value = '';
    } else {
      this.say(res.error.code === 'not_found' ? `There is no user @${username}.` : res.error.message, true);
      this.input.focus();
    }
  }
}

/** On narrow screens the sidebar is a drawer opened from the conversation header. */
export class Drawer {
  /**
   * @param {HTMLElement} root @param {HTMLElement} sidebar @param {HTMLButtonElement} toggle
   * @param {HTMLButtonElement} closeButton @param {HTMLElement} backdrop
   */
  constructor(root, sidebar, toggle, closeButton, backdrop) {
    this.root = root;
    this.sidebar = sidebar;
    this.toggle = toggle;
    this.backdrop = backdrop;
    toggle.addEventListener('click', () => (this.isOpen ? this.close() : this.open()));
    closeButton.addEventListener('click', () => this.close());
    backdrop.addEventListener('click', () => this.close());
    sidebar.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && this.isOpen) this.close();
    });
  }

  get isOpen() {
    return this.root.classList.contains('sidebar-open');
  }

  open() {
    this.root.classList.add('sidebar-open');
    this.backdrop.hidden = false;
    this.toggle.setAttribute('aria-expanded', 'true');
    const current = this.sidebar.querySelector('[aria-current="true"]') ?? this.sidebar.querySelector('.nav-item');
    if (current instanceof HTMLElement) current.focus();
  }

  /** @param {boolean} [returnFocus] */
  close(returnFocus = true) {
    if (!this.isOpen) return;
    this.root.classList.remove('sidebar-open');
    this.backdrop.hidden = true;
    this.toggle.setAttribute('aria-expanded', 'false');
    if (returnFocus) this.toggle.focus();
  }
}
