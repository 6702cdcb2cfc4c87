// @ts-check
/**
 * Join sequencing and navigation. A socket is in at most one room: joining
 * another leaves the previous one once the new join is acknowledged. Joins
 * run one after another; when several are asked for, the last one asked for
 * is the one shown (answers to earlier ones do not switch the page). While
 * there is no connection, or it is catching up, a room asked for is remembered
 * and opened once it is ready.
 */
import { Conversation } from './conversation.js';
import { describe } from './describe.js';
import { noteIncoming } from './state.js';

/** @typedef {import('../types.js').CoreContext} CoreContext */
/** @typedef {import('../types.js').Failure} Failure */
/** @typedef {import('../types.js').Message} Message */
/** @typedef {import('./outbox.js').Outbox} Outbox */
/** @typedef {import('./history.js').History} History */
/** @typedef {import('./catch-up.js').CatchUp} CatchUp */
/** @typedef {import('./directory.js').Directory} Directory */
/** @typedef {{ conv: Conversation, added: Message[] } | { error: Failure['error'] }} JoinResult */

export class Joins {
  /**
   * @param {Pick<CoreContext, 'state' | 'link' | 'ui'>} ctx
   * @param {{ outbox: Outbox, history: History, catchUp: CatchUp, directory: Directory }} parts
   */
  constructor(ctx, parts) {
    this.ctx = ctx;
    this.parts = parts;
    /** Counts what was asked to be shown: an answer for an older ask does not switch the page. */
    this.openSeq = 0;
    /** Joins run one after another. */
    this.queue = Promise.resolve();
  }

  /**
   * Joins a room (leaving the previous one) and merges what the join returns:
   * the newest page, or everything after the last message already shown (the join
   * answers its first page, `message:history {after}` the rest, live messages wait).
   * @param {string} roomId
   * @returns {Promise<JoinResult>}
   */
  join(roomId) {
    const since = this.ctx.state.roomConv(roomId)?.lastId;
    if (!since) return this.joinOnce(roomId, undefined);
    return this.parts.catchUp.holding(roomId, () => this.joinOnce(roomId, since));
  }

  /** @param {string} roomId @param {string | undefined} since @returns {Promise<JoinResult>} */
  async joinOnce(roomId, since) {
    const { state, link, ui } = this.ctx;
    const cached = state.roomConv(roomId);
    const res = await link.request('room:join', since ? { roomId, since } : { roomId });
    if (!res.ok) return { error: res.error };
    if (state.joinedRoom && state.joinedRoom !== roomId) {
      void link.request('room:leave', { roomId: state.joinedRoom });
      ui.leftRoom();
    }
    state.joinedRoom = roomId;
    ui.joined(roomId);
    const conv = cached ?? new Conversation('room', roomId, res.room.name);
    state.conversations.set(conv.key, conv);
    conv.title = res.room.name;
    conv.privateRoom = res.room.private;
    conv.owner = res.room.owner;
    let history = res.history;
    if (since) history = await this.parts.catchUp.gap(conv, res.history, res.hasMore);
    else conv.hasOlder = res.hasMore;
    const added = conv.add(history);
    conv.loaded = true;
    return { conv, added };
  }

  /** Shows a conversation. @param {Conversation} conv */
  activate(conv) {
    const { state, ui } = this.ctx;
    state.active = conv;
    if (conv.unread) {
      conv.unread = 0;
      if (conv.kind === 'dm') ui.unread(conv);
    }
    ui.show(conv);
    this.parts.history.fillIfShort(conv);
  }

  /** Opens a room: joins it if needed, then shows it (unless something else was asked for meanwhile). @param {string} roomId */
  async openRoom(roomId) {
    const { state, link, ui } = this.ctx;
    ui.closeDrawer();
    if (link.ended) return;
    const seq = ++this.openSeq;
    const cached = state.roomConv(roomId);
    if (state.joinedRoom === roomId && cached) {
      this.activate(cached);
      return;
    }
    ui.pick(roomId);
    if (!link.connected || state.catchingUp) {
      // Not live yet: remember it; `connected` opens it.
      state.wantedRoom = roomId;
      return;
    }
    const run = this.queue.then(async () => {
      const result = await this.join(roomId);
      if ('error' in result) {
        if (seq === this.openSeq) {
          ui.notice(`Could not open #${state.roomName(roomId)}: ${describe(result.error)}.`);
          if (state.active) this.activate(state.active);
          else if (roomId !== 'general') void this.openRoom('general');
        }
        return;
      }
      if (seq === this.openSeq) this.activate(result.conv);
      void this.parts.outbox.flush(result.conv);
    });
    this.queue = run.catch(() => undefined);
    await run;
  }

  /** Opens the direct-message conversation with a user. @param {string} username @param {string} [displayName] */
  async openDm(username, displayName) {
    const { state, link, ui } = this.ctx;
    ui.closeDrawer();
    if (link.ended) return;
    this.openSeq += 1;
    const name = displayName ?? state.online.get(username)?.displayName ?? ui.dmName(username) ?? username;
    const conv = state.conversation('dm', username, name);
    if (displayName) conv.title = displayName;
    ui.dmSeen(username, conv.title);
    this.activate(conv);
    if (!conv.loaded) await this.parts.history.loadDm(conv);
  }

  /**
   * Connected (first time or again): join, catch up, refresh presence and rooms, then
   * send what waited and open a room picked meanwhile.
   * @param {boolean} reconnect
   */
  async connected(reconnect) {
    const { state, ui } = this.ctx;
    const { outbox, history, catchUp, directory } = this.parts;
    state.catchingUp = true;
    try {
      const presenceLoad = directory.loadPresence();
      void directory.refreshRooms();
      const active = state.active;
      const target = state.wantedRoom ?? state.joinedRoom ?? (active?.kind === 'room' ? active.target : null) ?? state.initialRoom;
      const showRoom = state.wantedRoom !== null || !active || active.kind === 'room';
      state.wantedRoom = null;
      state.joinedRoom = null; // a new socket has joined nothing yet
      const joined = await this.join(target);
      if ('error' in joined) {
        if (reconnect && target !== 'general') ui.notice(`You can no longer open #${state.roomName(target)}.`);
        state.forgetRoom(target);
        if (target !== 'general') {
          const fallback = await this.join('general');
          if (!('error' in fallback) && (showRoom || state.active?.kind === 'room')) this.activate(fallback.conv);
        }
      } else if (showRoom && (!reconnect || state.active !== joined.conv)) {
        this.activate(joined.conv);
      } else {
        noteIncoming(state, ui, joined.conv, joined.added);
      }
      const shown = state.active;
      if (reconnect) {
        await Promise.all([...state.conversations.values()].filter((c) => c.kind === 'dm' && c.loaded).map((c) => catchUp.dm(c)));
      } else if (shown?.kind === 'dm' && !shown.loaded) {
        await history.loadDm(shown);
      }
      await presenceLoad;
    } finally {
      state.catchingUp = false;
    }
    outbox.flushAll();
    // A room picked while this catch-up ran.
    if (state.wantedRoom !== null) {
      const roomId = state.wantedRoom;
      state.wantedRoom = null;
      await this.openRoom(roomId);
    }
  }

  /** The server removed me from a room (a private room's owner did): leave it, and show `general` if it was shown. @param {string} roomId */
  removed(roomId) {
    const { state, ui } = this.ctx;
    const name = state.roomName(roomId);
    const wasActive = state.active?.kind === 'room' && state.active.target === roomId;
    if (state.joinedRoom === roomId) {
      state.joinedRoom = null;
      ui.joined(null);
    }
    state.forgetRoom(roomId);
    ui.notice(`You were removed from #${name}.`);
    void this.parts.directory.refreshRooms();
    if (wasActive) {
      state.active = null;
      void this.openRoom('general');
    }
  }
}
