// @ts-check
/**
 * History pages: the first page of a direct-message conversation, and older
 * pages on demand (scrolling up, or while the list does not fill the screen).
 */
import { describe } from './describe.js';

/** @typedef {import('../types.js').CoreContext} CoreContext */
/** @typedef {import('./conversation.js').Conversation} Conversation */
/** @typedef {import('./outbox.js').Outbox} Outbox */

/** Messages a join or history page returns by default (the server's page size). */
export const PAGE = 50;

export class History {
  /** @param {Pick<CoreContext, 'state' | 'link' | 'ui'>} ctx @param {Outbox} outbox */
  constructor(ctx, outbox) {
    this.ctx = ctx;
    this.outbox = outbox;
  }

  /** First page of a direct-message conversation; then its outbox may go. @param {Conversation} conv */
  async loadDm(conv) {
    const { link, ui } = this.ctx;
    const res = await link.request('dm:history', { with: conv.target, limit: PAGE });
    if (!res.ok) {
      if (res.error.code !== 'offline') ui.notice(res.error.code === 'not_found' ? `There is no user @${conv.target}.` : `Could not load messages: ${describe(res.error)}.`);
      return;
    }
    conv.add(res.messages);
    conv.hasOlder = res.hasMore;
    conv.loaded = true;
    ui.update(conv, { stick: true });
    this.fillIfShort(conv);
    void this.outbox.flush(conv);
  }

  /** Loads older pages while the shown list does not fill the screen (scrolling could not ask for them). @param {Conversation} conv */
  fillIfShort(conv) {
    if (conv === this.ctx.state.active && conv.loaded && conv.hasOlder && !conv.loadingOlder && this.ctx.ui.underfilled()) void this.loadOlder(conv);
  }

  /** One page of older history, before the first message shown. @param {Conversation} conv */
  async loadOlder(conv) {
    const { link, ui } = this.ctx;
    if (conv.loadingOlder || !conv.hasOlder || !conv.loaded || !link.connected) return;
    conv.loadingOlder = true;
    ui.updateEdge(conv);
    const before = conv.firstId;
    const res =
      conv.kind === 'room'
        ? await link.request('message:history', { roomId: conv.target, limit: PAGE, ...(before && { before }) })
        : await link.request('dm:history', { with: conv.target, limit: PAGE, ...(before && { before }) });
    conv.loadingOlder = false;
    if (res.ok) {
      conv.add(res.messages);
      conv.hasOlder = res.hasMore;
      ui.update(conv, { mode: 'prepend' });
      this.fillIfShort(conv);
    } else {
      ui.updateEdge(conv);
      if (res.error.code !== 'offline') ui.notice(`Could not load older messages: ${describe(res.error)}.`);
    }
  }
}
