// @ts-check
/** @typedef {import('../types.js').Room} Room */
/** @typedef {import('../types.js').ChatApi} ChatApi */

/** Owner-only member management of a private room (POST/DELETE /api/rooms/:id/members). */
export class MembersPanel {
  /**
   * @param {HTMLDetailsElement} details @param {HTMLFormElement} form @param {HTMLInputElement} input @param {HTMLElement} message
   * @param {Pick<ChatApi, 'addMember' | 'removeMember'>} api
   */
  constructor(details, form, input, message, api) {
    this.details = details;
    this.api = api;
    this.input = input;
    this.message = message;
    /** @type {string | null} */
    this.roomId = null;
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const op = event.submitter instanceof HTMLButtonElement ? event.submitter.value : 'add';
      void this.run(op === 'remove' ? 'remove' : 'add');
    });
  }

  /** Shows the panel for a private room I own, hides it otherwise. @param {Room | undefined} room @param {string} me */
  showFor(room, me) {
    const mine = Boolean(room && room.private && room.owner === me);
    this.details.hidden = !mine;
    if (this.roomId !== (room?.id ?? null)) {
      this.details.open = false;
      this.say('', false);
    }
    this.roomId = mine && room ? room.id : null;
  }

  /** @param {string} text @param {boolean} error */
  say(text, error) {
    this.message.textContent = text;
    this.message.classList.toggle('error', error);
    this.message.classList.toggle('hint', !error);
    if (error) this.input.setAttribute('aria-invalid', 'true');
    else this.input.removeAttribute('aria-invalid');
  }

  /** @param {'add' | 'remove'} op */
  async run(op) {
    const roomId = this.roomId;
    const username = this.input.value.trim().replace(/^@/, '').toLowerCase();
    if (!roomId) return;
    if (!/^[a-z0-9_]{3,32}$/.test(username)) {
      this.say('Enter a username (3-32 of a-z, 0-9 and _).', true);
      this.input.focus();
      return;
    }
    const res = op === 'add' ? await this.api.addMember(roomId, username) : await this.api.removeMember(roomId, username);
    if (res.ok) {
      this.say(op === 'add' ? `@${username} can now join #${roomId}.` : `@${username} was removed from #${roomId}.`, false);
      this.input.value = '';
    } else {
      this.say(res.error.code === 'not_found' ? `There is no user @${username}.` : res.error.message, true);
      this.input.focus();
    }
  }
}
