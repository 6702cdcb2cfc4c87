// @ts-check
/**
 * The room directory and who is online, kept from the server's data: the room
 * list from `GET /api/rooms` (through the API module), presence from
 * `presence:list` and `presence` events.
 */

/** @typedef {import('../types.js').CoreContext} CoreContext */
/** @typedef {import('../types.js').Room} Room */
/** @typedef {import('../types.js').User} User */

export class Directory {
  /** @param {Pick<CoreContext, 'state' | 'link' | 'api' | 'ui'>} ctx */
  constructor(ctx) {
    this.ctx = ctx;
  }

  /** Reads the room list again (rooms appear, private rooms I was added to or removed from); true when it could. */
  async refreshRooms() {
    const res = await this.ctx.api.listRooms();
    if (res.ok && Array.isArray(res.data?.rooms)) this.showRooms(res.data.rooms);
    return res.ok;
  }

  /**
   * A room I just created joins the list. Before the list was first had, it is asked for
   * instead (it has the new room, and the others the page shows).
   * @param {Room} room
   */
  roomCreated(room) {
    const { state } = this.ctx;
    if (state.rooms.loaded) this.showRooms(state.rooms.with(room));
    else void this.refreshRooms();
  }

  /** @param {Room[]} rooms */
  showRooms(rooms) {
    const changed = this.ctx.state.rooms.set(rooms);
    this.ctx.ui.rooms(this.ctx.state.rooms.list(), changed);
  }

  /** Who is online now (on each connection). */
  async loadPresence() {
    const res = await this.ctx.link.request('presence:list', {});
    if (!res.ok) return;
    this.ctx.state.resetOnline(res.online);
    this.showPresence();
  }

  /** @param {User} user @param {boolean} online */
  presence(user, online) {
    this.ctx.state.setOnline(user, online);
    this.showPresence();
  }

  /** Nobody (the session ended). */
  clearPresence() {
    this.ctx.state.resetOnline([]);
    this.showPresence();
  }

  showPresence() {
    this.ctx.ui.presence([...this.ctx.state.online.values()]);
  }
}
