// @ts-check
import { slugify } from '../util.js';

/** @typedef {import('../types.js').Room} Room */
/** @typedef {import('../types.js').ChatApi} ChatApi */

/** The "New room" form: creates the room (POST /api/rooms), errors next to the field, then the room opens. */
export class NewRoomForm {
  /**
   * @param {{ form: HTMLFormElement, toggle: HTMLButtonElement, cancel: HTMLButtonElement, name: HTMLInputElement,
   *   id: HTMLInputElement, isPrivate: HTMLInputElement, idError: HTMLElement, formError: HTMLElement }} el
   * @param {Pick<ChatApi, 'createRoom'>} api
   * @param {(room: Room) => void} onCreated
   */
  constructor(el, api, onCreated) {
    this.el = el;
    this.api = api;
    this.onCreated = onCreated;
    this.idTouched = false;
    el.toggle.addEventListener('click', () => (el.form.hidden ? this.open() : this.close()));
    el.cancel.addEventListener('click', () => this.close());
    el.form.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') this.close();
    });
    el.name.addEventListener('input', () => {
      if (!this.idTouched) el.id.value = slugify(el.name.value);
    });
    el.id.addEventListener('input', () => {
      this.idTouched = el.id.value !== '';
      this.showIdError('');
    });
    el.form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.submit();
    });
  }

  open() {
    this.el.form.hidden = false;
    this.el.toggle.setAttribute('aria-expanded', 'true');
    this.el.name.focus();
  }

  close() {
    const { form, toggle } = this.el;
    form.reset();
    this.idTouched = false;
    this.showIdError('');
    this.el.formError.hidden = true;
    form.hidden = true;
    toggle.setAttribute('aria-expanded', 'false');
    toggle.focus();
  }

  /** @param {string} message */
  showIdError(message) {
    const { id, idError } = this.el;
    idError.textContent = message;
    idError.hidden = !message;
    if (message) {
      id.setAttribute('aria-invalid', 'true');
      id.setAttribute('aria-describedby', 'new-room-id-error new-room-id-hint');
    } else {
      id.removeAttribute('aria-invalid');
      id.setAttribute('aria-describedby', 'new-room-id-hint');
    }
  }

  async submit() {
    const { name, id, isPrivate, formError, form } = this.el;
    formError.hidden = true;
    const roomId = id.value.trim() || slugify(name.value);
    id.value = roomId;
    if (!/^[a-z0-9-]{1,32}$/.test(roomId)) {
      this.showIdError('Use 1-32 of a-z, 0-9 and -.');
      id.focus();
      return;
    }
    const submit = form.querySelector('button[type="submit"]');
    if (submit instanceof HTMLButtonElement) submit.disabled = true;
    const body = { id: roomId, private: isPrivate.checked, ...(name.value.trim() && { name: name.value.trim() }) };
    const res = await this.api.createRoom(body);
    if (submit instanceof HTMLButtonElement) submit.disabled = false;
    if (res.ok) {
      const room = /** @type {Room} */ (res.data.room);
      form.reset();
      this.idTouched = false;
      form.hidden = true;
      this.el.toggle.setAttribute('aria-expanded', 'false');
      this.onCreated(room);
      return;
    }
    if (res.error.code === 'room_exists') {
      this.showIdError(`#${roomId} is taken; choose another address.`);
      id.focus();
    } else if (res.error.code === 'bad_request') {
      this.showIdError(res.error.message.replace(/^[^:]+: /, ''));
      id.focus();
    } else {
      formError.textContent = res.error.message;
      formError.hidden = false;
    }
  }
}
