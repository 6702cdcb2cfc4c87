// @ts-check
import { io } from '/socket.io/socket.io.esm.min.js';

/** @typedef {import('./types.js').ChatSocket} ChatSocket */
/** @typedef {import('./types.js').ClientEvents} ClientEvents */
/** @typedef {import('./types.js').ConnectionState} ConnectionState */
/** @typedef {import('./types.js').Failure} Failure */
/** @typedef {import('./types.js').ChatApi} ChatApi */

const ACK_TIMEOUT_MS = 10_000;
/** After a server-side disconnect that is not a sign-out (e.g. a restart), try again after this. */
const RESTART_RETRY_MS = [500, 1000, 2000, 5000];
/** After `session:ended`: when to ask whether this browser is still signed in (on a new session). */
const SIGNED_IN_RECHECK_MS = [0, 300, 1000];

/**
 * The one Socket.IO connection of the page, and its visible state.
 *
 * `connecting` until the first connection is up and the page has caught up,
 * `connected` while live, `disconnected` while reconnecting on its own,
 * `ended` once the session is over (sign-out anywhere, revocation, expiry):
 * then it never reconnects.
 */
export class Connection {
  /**
   * @param {HTMLElement} statusEl the `connection-status` element
   * @param {Pick<ChatApi, 'signedIn'>} api
   * @param {{
   *   onConnect: (reconnect: boolean) => Promise<void>,
   *   onEnded: (reason: string) => void,
   * }} hooks
   */
  constructor(statusEl, api, hooks) {
    this.statusEl = statusEl;
    this.api = api;
    this.hooks = hooks;
    /** @type {ConnectionState} */
    this.state = 'connecting';
    this.ended = false;
    this.everConnected = false;
    this.restartTries = 0;
    /** Set while asking the server whether this browser is still signed in, after `session:ended`. */
    this.rechecking = false;
    /** @type {ChatSocket} */
    this.socket = /** @type {ChatSocket} */ (io({ withCredentials: true, reconnectionDelayMax: 5000 }));
    this.bind();
  }

  /** @param {ConnectionState} state @param {string} text */
  setState(state, text) {
    this.state = state;
    this.statusEl.dataset.state = state;
    const label = this.statusEl.querySelector('.status-text');
    (label ?? this.statusEl).textContent = text;
  }

  bind() {
    const { socket } = this;
    socket.on('connect', () => {
      const reconnect = this.everConnected;
      this.everConnected = true;
      this.restartTries = 0;
      if (reconnect) this.setState('connecting', 'Reconnected, catching up…');
      this.hooks
        .onConnect(reconnect)
        .catch((err) => console.error('chat: catching up failed', err))
        .finally(() => {
          if (!this.ended && socket.connected) this.setState('connected', 'Connected');
        });
    });

    socket.on('disconnect', (reason) => {
      if (this.ended) return;
      this.setState('disconnected', 'Offline, reconnecting…');
      // The client reconnects by itself except after a server-side disconnect;
      // without `session:ended` first that is a restart or a balancer move, so try again.
      if (reason === 'io server disconnect' && !this.rechecking) this.retryLater();
    });

    socket.on('connect_error', (err) => {
      if (this.ended) return;
      if (err.message === 'unauthorized') {
        this.end('unauthorized');
        return;
      }
      this.setState(this.everConnected ? 'disconnected' : 'connecting', this.everConnected ? 'Offline, reconnecting…' : 'Connecting…');
      if (!socket.active) this.retryLater();
    });

    socket.on('session:ended', ({ reason }) => void this.sessionEnded(reason));

    socket.io.on('reconnect_attempt', (attempt) => {
      if (!this.ended && attempt > 1) this.setState('disconnected', `Offline, reconnecting (try ${attempt})…`);
    });

    // Which transport carries the connection (`data-transport`): Engine.IO starts on
    // HTTP long-polling and upgrades to a WebSocket within moments of connecting.
    socket.io.on('open', () => {
      const { engine } = socket.io;
      this.statusEl.dataset.transport = engine.transport.name;
      engine.on('upgrade', (transport) => {
        this.statusEl.dataset.transport = transport.name;
      });
    });

    window.addEventListener('online', () => {
      if (!this.ended && !socket.connected && !socket.active) socket.connect();
    });
  }

  retryLater() {
    const delay = RESTART_RETRY_MS[Math.min(this.restartTries, RESTART_RETRY_MS.length - 1)] ?? 5000;
    this.restartTries += 1;
    setTimeout(() => {
      if (!this.ended && !this.socket.connected && !this.socket.active) this.socket.connect();
    }, delay);
  }

  /**
   * The server ended the session this socket was opened on. A password change
   * made in this browser moves it to a new session (and cookie) and ends the
   * old one: then carry on, on the new one. Otherwise the sign-out is for good.
   * @param {string} reason
   */
  async sessionEnded(reason) {
    if (this.ended || this.rechecking) return;
    this.rechecking = true;
    let signedIn = false;
    // The new cookie comes with the HTTP answer of the change, which the server sends
    // just after it ended the old session: ask again a little later before giving up.
    for (const delay of SIGNED_IN_RECHECK_MS) {
      await new Promise((resolve) => setTimeout(resolve, delay));
      signedIn = await this.api.signedIn();
      if (signedIn) break;
    }
    this.rechecking = false;
    if (!signedIn) {
      this.end(reason);
      return;
    }
    this.setState('connecting', 'Reconnecting…');
    if (!this.socket.connected && !this.socket.active) this.socket.connect();
  }

  /** The session is over: stop for good. @param {string} reason */
  end(reason) {
    if (this.ended) return;
    this.ended = true;
    this.setState('ended', 'Signed out');
    this.socket.disconnect();
    this.hooks.onEnded(reason);
  }

  get connected() {
    return this.socket.connected && !this.ended;
  }

  /**
   * Emits a client event and resolves with its acknowledgement. Never throws;
   * without a connection it does not emit (Socket.IO would buffer it and send
   * it on reconnect, before the room is joined again) and resolves `offline`.
   * @template {keyof ClientEvents} E
   * @param {E} event
   * @param {unknown} payload
   * @param {number} [ms]
   * @returns {Promise<import('./types.js').AckOf<E>>}
   */
  async request(event, payload, ms = ACK_TIMEOUT_MS) {
    if (!this.connected) return /** @type {Failure} */ ({ ok: false, error: { code: 'offline', message: 'not connected' } });
    try {
      // The typed overloads do not follow a generic event name; the result type is declared above.
      const emitter = /** @type {any} */ (this.socket.timeout(ms));
      return await emitter.emitWithAck(event, payload);
    } catch {
      return /** @type {Failure} */ ({ ok: false, error: { code: 'timeout', message: 'the server did not answer in time' } });
    }
  }
}
