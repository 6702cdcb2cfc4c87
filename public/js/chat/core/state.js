// @ts-check
/**
 * What the page knows, without the page: the conversations, which one is shown,
 * which room this socket has joined, the room directory and who is online.
 * DOM-free (the core and its tests use it; widgets only render from it).
 */
import { Conversation } from './conversation.js';

/** @typedef {import('../types.js').Room} Room */
/** @typedef {import('../types.js').User} User */
/** @typedef {import('../types.js').Message} Message */
/** @typedef {import('../types.js').CoreUi} CoreUi */

/**
 * The rooms I may open, as the server lists them (`GET /api/rooms`). Unknown
 * (not loaded) until the first answer: the page's markup is never read back as data.
 */
export class RoomDirectory {
  constructor() {
    /** @type {Map<string, Room> | null} */
    this.byId = null;
  }

  get loaded() {
    return this.byId !== null;
  }

  /** @param {string} roomId */
  get(roomId) {
    return this.byId?.get(roomId);
  }

  /** @returns {Room[]} in the server's order (or the order `with` made) */
  list() {
    return [...(this.byId?.values() ?? [])];
  }

  /**
   * Replaces the list; true when it differs from the one known (or none was).
   * @param {Room[]} rooms
   */
  set(rooms) {
    const old = this.byId;
    const same =
      old !== null &&
      rooms.length === old.size &&
      rooms.every((r) => {
        const known = old.get(r.id);
        return known && known.name === r.name && known.private === r.private && known.owner === r.owner;
      });
    this.byId = new Map(rooms.map((r) => [r.id, r]));
    return !same;
  }

  /**
   * The list with a room added (or replaced): `general` first, then by id.
   * @param {Room} room
   */
  with(room) {
    const rooms = this.list().filter((r) => r.id !== room.id);
    rooms.push(room);
    return rooms.sort((a, b) => (a.id === 'general' ? -1 : b.id === 'general' ? 1 : a.id < b.id ? -1 : 1));
  }
}

export class ChatState {
  /** @param {{ username: string, displayName: string }} me @param {string} initialRoom the room the page was opened on */
  constructor(me, initialRoom) {
    this.me = me;
    this.initialRoom = initialRoom;
    /** @type {Map<string, Conversation>} */
    this.conversations = new Map();
    /** The conversation shown. @type {Conversation | null} */
    this.active = null;
    /** The room this socket has joined (at most one at a time), or null. @type {string | null} */
    this.joinedRoom = null;
    /** A room asked for while there is no connection: opened once connected. @type {string | null} */
    this.wantedRoom = null;
    /** True while a (re)connection is catching up: the outbox waits so that nothing is sent twice. */
    this.catchingUp = true;
    this.rooms = new RoomDirectory();
    /** Who is online, by username. @type {Map<string, User>} */
    this.online = new Map();
  }

  /** @param {string} roomId */
  roomConv(roomId) {
    return this.conversations.get(Conversation.key('room', roomId));
  }

  /** @param {string} username */
  dmConv(username) {
    return this.conversations.get(Conversation.key('dm', username));
  }

  /**
   * The conversation, made (titled `title`) if the page did not have it yet.
   * @param {'room' | 'dm'} kind @param {string} target @param {string} title
   */
  conversation(kind, target, title) {
    const key = Conversation.key(kind, target);
    let conv = this.conversations.get(key);
    if (!conv) this.conversations.set(key, (conv = new Conversation(kind, target, title)));
    return conv;
  }

  /** @param {string} roomId */
  forgetRoom(roomId) {
    this.conversations.delete(Conversation.key('room', roomId));
  }

  /** A room's name for notices: as last joined, else as listed, else its id. @param {string} roomId */
  roomName(roomId) {
    return this.roomConv(roomId)?.title ?? this.rooms.get(roomId)?.name ?? roomId;
  }

  /** @param {User[]} users */
  resetOnline(users) {
    this.online = new Map(users.map((u) => [u.username, u]));
  }

  /** @param {User} user @param {boolean} online */
  setOnline(user, online) {
    if (online) this.online.set(user.username, user);
    else this.online.delete(user.username);
  }
}

/**
 * New messages arrived in a conversation (live, by an acknowledgement or by catching up):
 * the shown one scrolls (to the bottom if I sent one of them) and counts what others
 * wrote as unseen; a direct message elsewhere counts them as unread.
 * @param {ChatState} state @param {Pick<CoreUi, 'update' | 'unseen' | 'unread'>} ui
 * @param {Conversation} conv @param {Message[]} added
 */
export function noteIncoming(state, ui, conv, added) {
  if (!added.length) return;
  const fromOthers = added.filter((m) => m.user.username !== state.me.username).length;
  if (conv === state.active) {
    const own = added.some((m) => m.user.username === state.me.username && m.clientMsgId);
    ui.update(conv, { mode: 'append', added: added.length, stick: own });
    ui.unseen(fromOthers);
  } else if (conv.kind === 'dm') {
    conv.unread += fromOthers;
    ui.unread(conv);
  }
}
