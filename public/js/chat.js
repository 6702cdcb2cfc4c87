// @ts-check
import { io } from '/socket.io/socket.io.esm.min.js';

const root = /** @type {HTMLElement} */ (document.getElementById('chat'));
const status = /** @type {HTMLElement} */ (root.querySelector('[data-testid="connection-status"]'));
const me = /** @type {HTMLElement} */ (root.querySelector('[data-testid="me"]'));

/** @param {'connecting'|'connected'|'disconnected'|'ended'} state @param {string} text */
function setState(state, text) {
  status.dataset.state = state;
  status.textContent = text;
}

const socket = io({ withCredentials: true });
socket.on('connect', () => setState('connected', 'Connected'));
socket.on('disconnect', () => setState('disconnected', 'Disconnected, reconnecting…'));
socket.on('session', (/** @type {{user: {displayName: string}}} */ view) => {
  me.textContent = view.user.displayName;
});
socket.on('session:ended', () => setState('ended', 'Signed out'));
