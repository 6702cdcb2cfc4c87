// @ts-check
import { h } from '../dom.js';
import { keepingFocus, markCurrent, navButton, onItemClick } from './nav.js';

/** @typedef {import('../types.js').Room} Room */

/**
 * The `room-list`: public rooms and the private ones I am in. The server renders
 * it first; it is rendered here again from the room directory's data when that changes.
 */
export class RoomList {
  /** @param {HTMLUListElement} list @param {(roomId: string) => void} onSelect */
  constructor(list, onSelect) {
    this.list = list;
    /** @type {string | null} */
    this.active = null;
    onItemClick(list, 'roomId', onSelect);
  }

  /** @param {Room[]} rooms @param {boolean} changed whether they differ from the rooms last shown */
  set(rooms, changed) {
    if (!changed && this.list.children.length === rooms.length) return;
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

  /** @param {string | null} roomId */
  setActive(roomId) {
    this.active = roomId;
    markCurrent(this.list, 'roomId', roomId);
  }
}
