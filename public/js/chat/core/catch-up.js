// @ts-check
/**
 * Catching up after a (re)join or a reconnection: everything after the last
 * message shown, page by page, without a hole and without a repeat (the
 * conversation de-duplicates by id). Live room messages that arrive while a
 * gap is being filled wait until it is, so that a catch-up cut short never
 * leaves a hole before them.
 */
import { compareIds } from '../util.js';
import { PAGE } from './history.js';
import { noteIncoming } from './state.js';

/** @typedef {import('../types.js').CoreContext} CoreContext */
/** @typedef {import('../types.js').Message} Message */
/** @typedef {import('./conversation.js').Conversation} Conversation */
/** @typedef {import('./history.js').History} History */

/** A catch-up longer than this is not worth keeping the whole gap: show the newest page and page back on demand. */
export const CATCH_UP_KEEP = 300;
/** Messages per page when filling a gap: the most the server answers at once (and what `room:join {since}` answers). */
export const GAP_PAGE = 100;
/** Messages per page when a direct-message conversation catches up, and the most pages it asks for. */
export const DM_PAGE = 100;
export const DM_PAGES = 10;

export class CatchUp {
  /** @param {Pick<CoreContext, 'state' | 'link' | 'ui'>} ctx @param {History} history */
  constructor(ctx, history) {
    this.ctx = ctx;
    this.history = history;
    /** Rooms whose gap is being filled, and their live messages meanwhile. @type {Map<string, Message[]>} */
    this.held = new Map();
  }

  /**
   * Runs `fill` (a join with `since` and its gap) with the room's live messages held back;
   * the gap it returns ends with them (see `gap`).
   * @template T @param {string} roomId @param {() => Promise<T>} fill
   */
  async holding(roomId, fill) {
    this.held.set(roomId, []);
    try {
      return await fill();
    } finally {
      this.held.delete(roomId);
    }
  }

  /**
   * The messages after a join with `since`: the whole gap and the live ones held meanwhile,
   * or (a gap not worth filling, or a page failed) the newest page instead.
   * @param {Conversation} conv @param {Message[]} first what the join answered @param {boolean} hasMore
   */
  async gap(conv, first, hasMore) {
    const gap = (await this.restOfGap(conv.target, first, hasMore)) ?? (await this.newestInstead(conv));
    return [...gap, ...(this.held.get(conv.target) ?? [])];
  }

  /**
   * The next pages forward until none remain. Null when the gap is longer than
   * CATCH_UP_KEEP (not worth loading) or a page could not be had.
   * @param {string} roomId @param {Message[]} first @param {boolean} hasMore
   * @returns {Promise<Message[] | null>}
   */
  async restOfGap(roomId, first, hasMore) {
    const gap = [...first];
    for (let more = hasMore; more; ) {
      const after = gap.at(-1)?.id;
      if (!after || gap.length >= CATCH_UP_KEEP) return null;
      const res = await this.ctx.link.request('message:history', { roomId, after, limit: GAP_PAGE });
      if (!res.ok) return null;
      gap.push(...res.messages);
      more = res.hasMore;
    }
    return gap;
  }

  /**
   * Instead of a gap not worth filling: forget what the conversation had and take the
   * newest page. Older history then loads on scroll, back from the first message shown,
   * so no hole is left either way (nor when this page fails: scrolling asks again).
   * @param {Conversation} conv
   * @returns {Promise<Message[]>}
   */
  async newestInstead(conv) {
    conv.resetMessages();
    const res = await this.ctx.link.request('message:history', { roomId: conv.target, limit: PAGE });
    if (!res.ok) return [];
    conv.hasOlder = res.hasMore;
    return res.messages;
  }

  /**
   * A live room message: held while the room's gap is filled, added otherwise.
   * False when the page has no such room.
   * @param {Message} message
   */
  roomMessage(message) {
    const { state, ui } = this.ctx;
    const conv = state.roomConv(message.roomId);
    if (!conv) return false;
    const held = this.held.get(message.roomId);
    if (held) held.push(message);
    else noteIncoming(state, ui, conv, conv.add([message]));
    return true;
  }

  /**
   * After a reconnection: everything newer than the last message shown of a direct-message
   * conversation, newest page first and back until it meets what was shown (at most DM_PAGES pages).
   * @param {Conversation} conv
   */
  async dm(conv) {
    const known = conv.lastId;
    if (!known) return this.history.loadDm(conv);
    /** @type {Message[]} */
    const got = [];
    /** @type {string | undefined} */
    let before;
    for (let i = 0; i < DM_PAGES; i++) {
      const res = await this.ctx.link.request('dm:history', { with: conv.target, limit: DM_PAGE, ...(before && { before }) });
      if (!res.ok) return;
      got.push(...res.messages);
      const first = res.messages[0];
      if (!res.hasMore || !first || compareIds(first.id, known) <= 0) break;
      before = first.id;
    }
    noteIncoming(this.ctx.state, this.ctx.ui, conv, conv.add(got));
  }
}
