// @ts-check
import { compareIds } from '../util.js';

/** @typedef {import('../types.js').Message} Message */
/** @typedef {import('../types.js').Reactions} Reactions */
/** @typedef {import('../types.js').Pending} Pending */

/**
 * One conversation as the page knows it: a room or a direct-message partner.
 * Messages are kept sorted by id and deduplicated by id, so live events,
 * acknowledgements, catch-ups and history pages can arrive in any order and
 * overlap freely. Own optimistic messages are matched by `clientMsgId`.
 */
export class Conversation {
  /**
   * @param {'room' | 'dm'} kind
   * @param {string} target the room id, or the partner's username
   * @param {string} title
   */
  constructor(kind, target, title) {
    this.kind = kind;
    this.target = target;
    this.title = title;
    this.key = Conversation.key(kind, target);
    /** @type {Message[]} oldest first */
    this.messages = [];
    /** @type {Set<string>} */
    this.ids = new Set();
    /** @type {Pending[]} */
    this.pending = [];
    /** @type {Map<string, Reactions>} */
    this.reactions = new Map();
    /** Whether older messages may exist on the server (unknown until the first page). */
    this.hasOlder = true;
    this.loadingOlder = false;
    this.loaded = false;
    this.unread = 0;
    /** True while the outbox of this conversation is being sent (one message at a time, in order). */
    this.flushing = false;
    /** Whether the room owner may manage members here (rooms only). */
    this.privateRoom = false;
    /** @type {string | null} */
    this.owner = null;
  }

  /** @param {'room' | 'dm'} kind @param {string} target */
  static key(kind, target) {
    return `${kind}:${target}`;
  }

  get firstId() {
    return this.messages[0]?.id;
  }

  get lastId() {
    return this.messages.at(-1)?.id;
  }

  /**
   * Adds messages; returns those that were new. A message carrying the
   * clientMsgId of a pending one replaces it.
   * @param {Message[]} messages
   * @returns {Message[]}
   */
  add(messages) {
    /** @type {Message[]} */
    const added = [];
    for (const m of messages) {
      if (m.clientMsgId) this.pending = this.pending.filter((p) => p.clientMsgId !== m.clientMsgId);
      if (this.ids.has(m.id)) continue;
      this.ids.add(m.id);
      if (m.reactions && !this.reactions.has(m.id)) this.reactions.set(m.id, m.reactions);
      added.push(m);
      const last = this.messages.at(-1);
      if (!last || compareIds(last.id, m.id) < 0) {
        this.messages.push(m);
        continue;
      }
      // Out of order (history page or a late event): binary search for its place.
      let lo = 0;
      let hi = this.messages.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        const here = this.messages[mid];
        if (here && compareIds(here.id, m.id) < 0) lo = mid + 1;
        else hi = mid;
      }
      this.messages.splice(lo, 0, m);
    }
    return added;
  }

  /** Forgets every stored message (keeps pending ones): used when a catch-up is too long to be worth keeping the gap-free past. */
  resetMessages() {
    this.messages = [];
    this.ids.clear();
    this.reactions.clear();
    this.hasOlder = true;
  }

  /** @param {string} clientMsgId */
  findPending(clientMsgId) {
    return this.pending.find((p) => p.clientMsgId === clientMsgId);
  }
}
