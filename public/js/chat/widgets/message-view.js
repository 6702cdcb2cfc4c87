// @ts-check
import { h } from '../dom.js';
import { dayKey, dayLabel } from '../util.js';
import { fillReactions, messageElement, pendingElement } from './message-items.js';

/** @typedef {import('../types.js').Message} Message */
/** @typedef {import('../types.js').Pending} Pending */
/** @typedef {import('../core/conversation.js').Conversation} Conversation */

/** Consecutive messages of one author within this window are grouped under one header. */
const GROUP_MS = 5 * 60 * 1000;
/** How close to the top (px) starts loading older history. */
const LOAD_OLDER_AT_PX = 150;
/** How close to the bottom (px) counts as "reading the newest". */
const STICK_PX = 80;

/**
 * @typedef {{
 *   onReact: (conv: Conversation, messageId: string, emoji: string) => void,
 *   onRetry: (conv: Conversation, clientMsgId: string) => void,
 *   onDiscard: (conv: Conversation, clientMsgId: string) => void,
 *   onLoadOlder: (conv: Conversation) => void,
 * }} ViewHooks
 */

/**
 * Renders the active conversation into the `messages` list. The DOM is kept
 * in step with the conversation by a keyed reconcile (elements are reused by
 * message id), so day separators and grouping stay right whichever way
 * messages arrive. Message text is set with textContent only.
 */
export class MessageView {
  /**
   * @param {{
   *   list: HTMLOListElement,
   *   scroller: HTMLElement,
   *   loadOlder: HTMLButtonElement,
   *   historyStart: HTMLElement,
   *   jump: HTMLButtonElement,
   *   me: { username: string, displayName: string },
   *   hooks: ViewHooks,
   * }} o
   */
  constructor(o) {
    this.list = o.list;
    this.scroller = o.scroller;
    this.loadOlderButton = o.loadOlder;
    this.historyStart = o.historyStart;
    this.jump = o.jump;
    this.me = o.me;
    this.hooks = o.hooks;
    /** @type {Conversation | null} */
    this.conv = null;
    /** @type {WeakMap<Conversation, Map<string, HTMLLIElement>>} */
    this.cache = new WeakMap();
    this.bind();
  }

  bind() {
    this.scroller.addEventListener('scroll', () => {
      const conv = this.conv;
      if (!conv) return;
      if (this.nearBottom()) this.jump.hidden = true;
      if (this.scroller.scrollTop < LOAD_OLDER_AT_PX && conv.loaded && conv.hasOlder && !conv.loadingOlder) this.hooks.onLoadOlder(conv);
    });
    this.loadOlderButton.addEventListener('click', () => {
      if (this.conv) this.hooks.onLoadOlder(this.conv);
    });
    this.jump.addEventListener('click', () => {
      this.scrollToBottom();
      this.jump.hidden = true;
    });

    this.list.addEventListener('click', (event) => {
      const conv = this.conv;
      const target = event.target instanceof Element ? event.target.closest('button') : null;
      if (!conv || !target) return;
      const item = target.closest('li.message');
      if (!(item instanceof HTMLLIElement)) return;
      if (target.classList.contains('react-toggle')) {
        const open = !item.classList.contains('picking');
        this.closePickers();
        item.classList.toggle('picking', open);
        target.setAttribute('aria-expanded', String(open));
        if (open) /** @type {HTMLButtonElement | null} */ (item.querySelector('.react-choices button'))?.focus();
        return;
      }
      const emoji = target.dataset.emoji;
      const messageId = item.dataset.messageId;
      if (emoji && messageId) {
        this.hooks.onReact(conv, messageId, emoji);
        if (item.classList.contains('picking')) {
          this.closePickers();
          /** @type {HTMLButtonElement | null} */ (item.querySelector('.react-toggle'))?.focus();
        }
        return;
      }
      const clientMsgId = item.dataset.clientMsgId;
      if (clientMsgId && target.dataset.action === 'retry') this.hooks.onRetry(conv, clientMsgId);
      if (clientMsgId && target.dataset.action === 'discard') this.hooks.onDiscard(conv, clientMsgId);
    });
    this.list.addEventListener('keydown', (event) => {
      if (event.key !== 'Escape') return;
      const item = event.target instanceof Element ? event.target.closest('li.message.picking') : null;
      if (!item) return;
      this.closePickers();
      /** @type {HTMLButtonElement | null} */ (item.querySelector('.react-toggle'))?.focus();
    });
  }

  closePickers() {
    for (const open of this.list.querySelectorAll('li.message.picking')) {
      open.classList.remove('picking');
      open.querySelector('.react-toggle')?.setAttribute('aria-expanded', 'false');
    }
  }

  nearBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < STICK_PX;
  }

  scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  /** Shows another conversation, scrolled to its newest message. @param {Conversation} conv */
  show(conv) {
    this.conv = conv;
    this.jump.hidden = true;
    this.quietly(() => {
      this.list.replaceChildren();
      this.reconcile(conv);
    });
    this.scrollToBottom();
    this.updateEdge(conv);
  }

  /**
   * Brings the list in step with the conversation after it changed.
   * @param {Conversation} conv
   * @param {{ mode?: 'append' | 'prepend' | 'refresh', stick?: boolean, added?: number }} [opts]
   */
  update(conv, opts = {}) {
    if (conv !== this.conv) return;
    const s = this.scroller;
    const wasNearBottom = this.nearBottom();
    const fromBottom = s.scrollHeight - s.scrollTop;
    if (opts.mode === 'prepend') this.quietly(() => this.reconcile(conv));
    else this.reconcile(conv);
    if (opts.mode === 'prepend') s.scrollTop = s.scrollHeight - fromBottom;
    else if (wasNearBottom || opts.stick) this.scrollToBottom();
    else if (opts.added) this.jump.hidden = false;
    this.updateEdge(conv);
  }

  /** Runs a DOM change that screen readers should not read out (history, switching). @param {() => void} fn */
  quietly(fn) {
    this.list.setAttribute('aria-live', 'off');
    this.list.setAttribute('aria-busy', 'true');
    fn();
    setTimeout(() => {
      this.list.setAttribute('aria-live', 'polite');
      this.list.removeAttribute('aria-busy');
    }, 0);
  }

  /** @param {Conversation} conv */
  updateEdge(conv) {
    if (conv !== this.conv) return;
    this.loadOlderButton.hidden = !conv.loaded || !conv.hasOlder;
    this.loadOlderButton.disabled = conv.loadingOlder;
    this.loadOlderButton.textContent = conv.loadingOlder ? 'Loading older messages…' : 'Load older messages';
    this.historyStart.hidden = !conv.loaded || conv.hasOlder;
    this.historyStart.textContent =
      conv.kind === 'room' ? `This is the beginning of #${conv.title}.` : `This is the beginning of your conversation with ${conv.title}.`;
  }

  /** True when the list does not fill the scroller (so scrolling cannot ask for more). */
  get underfilled() {
    return this.scroller.scrollHeight <= this.scroller.clientHeight + 4;
  }

  /** Re-renders one message's reactions. @param {Conversation} conv @param {string} messageId */
  setReactions(conv, messageId) {
    const el = this.cache.get(conv)?.get(messageId);
    const box = el?.querySelector('.reactions');
    if (box) fillReactions(box, conv.reactions.get(messageId) ?? {}, this.me.username);
  }

  /** The display name changed: pending messages show it. @param {string} displayName */
  setMyName(displayName) {
    this.me.displayName = displayName;
  }

  // ---- rendering -------------------------------------------------------------

  /** @param {Conversation} conv */
  elements(conv) {
    let map = this.cache.get(conv);
    if (!map) this.cache.set(conv, (map = new Map()));
    return map;
  }

  /** @param {Conversation} conv */
  reconcile(conv) {
    const cache = this.elements(conv);
    /** @type {HTMLLIElement[]} */
    const nodes = [];
    /** @type {Set<string>} */
    const live = new Set();
    let prevDay = '';
    /** @type {Message | undefined} */
    let prev;

    /** @param {string} iso */
    const separatorFor = (iso) => {
      const day = dayKey(iso);
      if (day === prevDay) return;
      prevDay = day;
      prev = undefined;
      const key = `day:${day}`;
      let sep = cache.get(key);
      if (!sep) {
        sep = h('li', { class: 'day-separator', data: { day } }, h('h2', { class: 'day-label', text: dayLabel(iso) }));
        cache.set(key, sep);
      }
      live.add(key);
      nodes.push(sep);
    };

    for (const m of conv.messages) {
      separatorFor(m.ts);
      let el = cache.get(m.id);
      if (!el) {
        el = messageElement(conv, m, this.me.username);
        cache.set(m.id, el);
      }
      const continued =
        prev !== undefined && prev.user.username === m.user.username && Date.parse(m.ts) - Date.parse(prev.ts) < GROUP_MS;
      el.classList.toggle('continued', continued);
      live.add(m.id);
      nodes.push(el);
      prev = m;
    }
    for (const p of conv.pending) {
      separatorFor(p.ts);
      const key = `pending:${p.clientMsgId}`;
      let el = cache.get(key);
      if (!el || el.dataset.status !== p.status) {
        el = pendingElement(p, this.me);
        cache.set(key, el);
      }
      live.add(key);
      nodes.push(el);
      prev = undefined;
    }

    let cursor = this.list.firstElementChild;
    for (const node of nodes) {
      if (node === cursor) cursor = cursor.nextElementSibling;
      else this.list.insertBefore(node, cursor);
    }
    while (cursor) {
      const next = cursor.nextElementSibling;
      cursor.remove();
      cursor = next;
    }
    for (const key of cache.keys()) if (!live.has(key)) cache.delete(key);
  }
}
