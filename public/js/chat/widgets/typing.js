// @ts-check
/** @typedef {import('../types.js').User} User */

/** A typist not heard from for this long is dropped (their `typing:false` may have been lost). */
const STALE_MS = 6000;

/** The "… is typing" line for the active room. */
export class TypingIndicator {
  /** @param {HTMLElement} el */
  constructor(el) {
    this.el = el;
    /** @type {Map<string, Map<string, { name: string, timer: ReturnType<typeof setTimeout> }>>} roomId → username → typist */
    this.rooms = new Map();
    /** @type {string | null} */
    this.activeRoom = null;
  }

  /** @param {string} roomId @param {User} user @param {boolean} typing */
  set(roomId, user, typing) {
    let typists = this.rooms.get(roomId);
    if (!typists) this.rooms.set(roomId, (typists = new Map()));
    const old = typists.get(user.username);
    if (old) clearTimeout(old.timer);
    if (typing) {
      const timer = setTimeout(() => this.set(roomId, user, false), STALE_MS);
      typists.set(user.username, { name: user.displayName, timer });
    } else {
      typists.delete(user.username);
    }
    if (roomId === this.activeRoom) this.render();
  }

  /** Someone whose message just arrived has stopped typing. @param {string} roomId @param {User} user */
  sent(roomId, user) {
    if (this.rooms.get(roomId)?.has(user.username)) this.set(roomId, user, false);
  }

  /** @param {string | null} roomId the room shown, or null for a direct message */
  show(roomId) {
    this.activeRoom = roomId;
    this.render();
  }

  clear() {
    for (const typists of this.rooms.values()) for (const t of typists.values()) clearTimeout(t.timer);
    this.rooms.clear();
    this.render();
  }

  render() {
    const names = this.activeRoom ? [...(this.rooms.get(this.activeRoom)?.values() ?? [])].map((t) => t.name) : [];
    let text = '';
    if (names.length === 1) text = `${names[0]} is typing…`;
    else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
    else if (names.length > 2) text = 'Several people are typing…';
    if (this.el.textContent !== text) this.el.textContent = text;
    this.el.dataset.count = String(names.length);
  }
}
