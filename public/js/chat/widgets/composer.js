// @ts-check
import { charCount } from '../util.js';

export const MAX_TEXT = 2000;
/** The counter shows from here on. */
const COUNT_FROM = 1800;
/** `typing:true` is sent at most this often while typing goes on. */
const TYPING_EVERY_MS = 3000;
/** After this long without a keystroke, `typing:false` is sent. */
const TYPING_IDLE_MS = 4000;

/**
 * What is sent for what was typed: trailing white space and leading blank
 * lines go; anything else (leading spaces of code, inner blank lines) stays.
 * @param {string} raw
 */
export function outgoingText(raw) {
  return raw.replace(/\s+$/u, '').replace(/^(?:[ \t]*\r?\n)+/u, '');
}

/**
 * The message box: Enter sends, Shift+Enter adds a line (IME composition is
 * left alone), a counter near the length limit, and throttled typing signals.
 */
export class Composer {
  /**
   * @param {{
   *   form: HTMLFormElement,
   *   textarea: HTMLTextAreaElement,
   *   send: HTMLButtonElement,
   *   counter: HTMLElement,
   *   label: HTMLElement,
   *   onSend: (text: string) => boolean,
   *   onTyping: (typing: boolean) => void,
   * }} o
   */
  constructor(o) {
    this.o = o;
    this.typing = false;
    this.lastTypingSent = 0;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.idleTimer = undefined;
    this.enabled = true;
    this.bind();
    this.updateCounter();
  }

  bind() {
    const { form, textarea } = this.o;
    textarea.addEventListener('keydown', (event) => {
      if (event.key !== 'Enter' || event.isComposing || event.keyCode === 229) return;
      if (event.shiftKey || event.altKey) return; // a new line
      event.preventDefault();
      this.submit();
    });
    textarea.addEventListener('input', () => {
      this.updateCounter();
      this.noteTyping();
    });
    textarea.addEventListener('blur', () => this.stopTyping());
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.submit();
    });
  }

  submit() {
    if (!this.enabled) return;
    const { textarea } = this.o;
    const text = outgoingText(textarea.value);
    if (!text.trim()) {
      textarea.focus();
      return;
    }
    if (charCount(text.trim()) > MAX_TEXT) {
      this.updateCounter();
      textarea.focus();
      return;
    }
    if (!this.o.onSend(text)) return;
    textarea.value = '';
    this.updateCounter();
    this.stopTyping();
    textarea.focus();
  }

  updateCounter() {
    const { textarea, counter, send } = this.o;
    const n = charCount(textarea.value.trim());
    const over = n > MAX_TEXT;
    counter.textContent = n >= COUNT_FROM ? `${n} / ${MAX_TEXT}${over ? ' (too long)' : ''}` : '';
    counter.classList.toggle('near', n >= COUNT_FROM && !over);
    counter.classList.toggle('over', over);
    if (over) textarea.setAttribute('aria-invalid', 'true');
    else textarea.removeAttribute('aria-invalid');
    send.disabled = !this.enabled || over;
  }

  noteTyping() {
    clearTimeout(this.idleTimer);
    if (!this.o.textarea.value.trim()) {
      this.stopTyping();
      return;
    }
    const now = Date.now();
    if (!this.typing || now - this.lastTypingSent >= TYPING_EVERY_MS) {
      this.typing = true;
      this.lastTypingSent = now;
      this.o.onTyping(true);
    }
    this.idleTimer = setTimeout(() => this.stopTyping(), TYPING_IDLE_MS);
  }

  stopTyping() {
    clearTimeout(this.idleTimer);
    if (!this.typing) return;
    this.typing = false;
    this.lastTypingSent = 0;
    this.o.onTyping(false);
  }

  /** Where messages go now, for the placeholder and the label. @param {string} where */
  setTarget(where) {
    this.stopTyping();
    this.o.textarea.placeholder = `Message ${where}`;
    this.o.label.textContent = `Message ${where}`;
  }

  /** @param {boolean} enabled */
  setEnabled(enabled) {
    this.enabled = enabled;
    this.o.textarea.disabled = !enabled;
    this.updateCounter();
    if (!enabled) this.stopTyping();
  }

  focus() {
    this.o.textarea.focus();
  }
}
