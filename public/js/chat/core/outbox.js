// @ts-check
/**
 * The outbox: what I typed shows at once as pending and is sent when the
 * connection (and, for a room, the join) is ready, one message at a time and
 * in order. The server's answer, a live event or a catch-up that carries the
 * message's clientMsgId settles it; an answer to an abandoned send is ignored.
 */
import { describe } from './describe.js';
import { noteIncoming } from './state.js';

/** @typedef {import('../types.js').CoreContext} CoreContext */
/** @typedef {import('../types.js').Pending} Pending */
/** @typedef {import('./conversation.js').Conversation} Conversation */

export class Outbox {
  /** @param {Pick<CoreContext, 'state' | 'link' | 'ui' | 'now' | 'newId'>} ctx */
  constructor(ctx) {
    this.ctx = ctx;
  }

  /** Queues a message for the shown conversation; false when there is none (or the session ended). @param {string} text */
  send(text) {
    const { state, link, ui, now, newId } = this.ctx;
    const conv = state.active;
    if (!conv || link.ended) return false;
    /** @type {Pending} */
    const p = { clientMsgId: newId(), text, ts: now().toISOString(), status: 'waiting', attempt: 0 };
    conv.pending.push(p);
    ui.update(conv, { stick: true });
    void this.flush(conv);
    return true;
  }

  /** Connected, caught up, and (for a room) joined. @param {Conversation} conv */
  canSend(conv) {
    const { state, link } = this.ctx;
    return link.connected && !state.catchingUp && (conv.kind === 'dm' || state.joinedRoom === conv.target);
  }

  /** Sends the waiting messages of a conversation, one at a time and in order. @param {Conversation} conv */
  async flush(conv) {
    if (conv.flushing) return;
    conv.flushing = true;
    try {
      /** @type {Pending | undefined} */
      let p;
      while (this.canSend(conv) && (p = conv.pending.find((x) => x.status === 'waiting'))) await this.deliver(conv, p);
    } finally {
      conv.flushing = false;
    }
  }

  /** Every conversation's outbox (after a catch-up). */
  flushAll() {
    for (const conv of this.ctx.state.conversations.values()) void this.flush(conv);
  }

  /** @param {Conversation} conv @param {Pending} p */
  async deliver(conv, p) {
    const { state, link, ui } = this.ctx;
    p.status = 'sending';
    const attempt = ++p.attempt;
    ui.update(conv);
    const res =
      conv.kind === 'room'
        ? await link.request('message:send', { roomId: conv.target, text: p.text, clientMsgId: p.clientMsgId })
        : await link.request('dm:send', { to: conv.target, text: p.text, clientMsgId: p.clientMsgId });
    // Already settled: the message came back by an event or a catch-up, was discarded, or this send was abandoned.
    if (!conv.findPending(p.clientMsgId) || p.attempt !== attempt) return;
    if (res.ok) {
      noteIncoming(state, ui, conv, conv.add([res.message]));
      ui.update(conv, { stick: true });
      return;
    }
    if (res.error.code === 'offline' || (res.error.code === 'timeout' && !link.connected)) {
      p.status = 'waiting';
    } else {
      p.status = 'failed';
      p.error = describe(res.error);
    }
    ui.update(conv);
  }

  /** The user retries a failed message. @param {Conversation} conv @param {string} clientMsgId */
  retry(conv, clientMsgId) {
    const p = conv.findPending(clientMsgId);
    if (!p) return;
    p.status = 'waiting';
    this.ctx.ui.update(conv, { stick: true });
    void this.flush(conv);
  }

  /** The user gives up on a failed message. @param {Conversation} conv @param {string} clientMsgId */
  discard(conv, clientMsgId) {
    conv.pending = conv.pending.filter((p) => p.clientMsgId !== clientMsgId);
    this.ctx.ui.update(conv);
  }

  /** Connection lost: sends in flight wait again (their late answers are ignored) and are retried after the catch-up, unless it shows they arrived. */
  connectionLost() {
    for (const conv of this.ctx.state.conversations.values()) {
      let changed = false;
      for (const p of conv.pending) {
        if (p.status !== 'sending') continue;
        p.status = 'waiting';
        p.attempt += 1;
        changed = true;
      }
      if (changed) this.ctx.ui.update(conv);
    }
  }
}
