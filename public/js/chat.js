// @ts-check
/**
 * The chat page: wiring only. The DOM-free core (./chat/core/) decides what
 * happens: joins, catch-up, the outbox, history, the room directory and who is
 * online. The widgets (./chat/widgets/) show it and report what the user asks
 * for. HTTP goes through ./chat/api.js, the socket through ./chat/connection.js.
 */
import { chatApi } from './chat/api.js';
import { Connection } from './chat/connection.js';
import { createChatCore } from './chat/core/chat-core.js';
import { byId, find } from './chat/dom.js';
import { Composer } from './chat/widgets/composer.js';
import { DmList } from './chat/widgets/dm-list.js';
import { Drawer } from './chat/widgets/drawer.js';
import { MembersPanel } from './chat/widgets/members-panel.js';
import { MessageView } from './chat/widgets/message-view.js';
import { NewRoomForm } from './chat/widgets/new-room-form.js';
import { PresenceList } from './chat/widgets/presence-list.js';
import { RoomList } from './chat/widgets/room-list.js';
import { TypingIndicator } from './chat/widgets/typing.js';

/** @typedef {import('./chat/types.js').CoreUi} CoreUi */
/** @typedef {import('./chat/core/conversation.js').Conversation} Conversation */

const NOTICE_MS = 7000;

const root = byId('chat', HTMLElement);
const me = { username: root.dataset.username ?? '', displayName: root.dataset.displayName ?? '' };
const initialRoom = root.dataset.roomId || 'general';

const titleName = byId('conversation-name', HTMLElement);
const titleSigil = find(byId('conversation-title', HTMLElement), '.sigil', HTMLElement);
const noticeEl = byId('notice', HTMLElement);
const endedBanner = byId('ended-banner', HTMLElement);
const endedReason = byId('ended-reason', HTMLElement);
const sidebar = byId('sidebar', HTMLElement);

// ---- widgets -------------------------------------------------------------------

const connection = new Connection(find(root, '[data-testid="connection-status"]', HTMLElement), chatApi, {
  onConnect: (reconnect) => core.joins.connected(reconnect),
  onEnded: (reason) => onEnded(reason),
});

const view = new MessageView({
  list: find(root, '[data-testid="messages"]', HTMLOListElement),
  scroller: byId('scroller', HTMLElement),
  loadOlder: byId('load-older', HTMLButtonElement),
  historyStart: byId('history-start', HTMLElement),
  jump: byId('jump-latest', HTMLButtonElement),
  me: { ...me },
  hooks: {
    onReact: (conv, messageId, emoji) => void core.react(conv, messageId, emoji),
    onRetry: (conv, clientMsgId) => core.outbox.retry(conv, clientMsgId),
    onDiscard: (conv, clientMsgId) => {
      core.outbox.discard(conv, clientMsgId);
      composer.focus();
    },
    onLoadOlder: (conv) => void core.history.loadOlder(conv),
  },
});

const composer = new Composer({
  form: byId('composer-form', HTMLFormElement),
  textarea: find(root, '[data-testid="composer"]', HTMLTextAreaElement),
  send: find(root, '[data-testid="send"]', HTMLButtonElement),
  counter: byId('composer-count', HTMLElement),
  label: byId('composer-label', HTMLElement),
  onSend: (text) => core.outbox.send(text),
  onTyping: (typing) => {
    const { active, joinedRoom } = core.state;
    if (active?.kind === 'room' && joinedRoom === active.target) void connection.request('typing', { roomId: active.target, typing });
  },
});

const typing = new TypingIndicator(find(root, '[data-testid="typing"]', HTMLElement));

const rooms = new RoomList(find(root, '[data-testid="room-list"]', HTMLUListElement), (roomId) => void core.joins.openRoom(roomId));
rooms.setActive(initialRoom);

const dms = new DmList(byId('dm-list', HTMLUListElement), byId('dm-empty', HTMLElement), me.username, (username) => void core.joins.openDm(username));

const presence = new PresenceList(
  find(root, '[data-testid="presence"]', HTMLUListElement),
  byId('presence-count', HTMLElement),
  byId('people-options', HTMLDataListElement),
  me.username,
  (username) => {
    const user = core.state.online.get(username);
    if (user) void core.joins.openDm(user.username, user.displayName);
  },
);

new NewRoomForm(
  {
    form: byId('new-room-form', HTMLFormElement),
    toggle: byId('new-room-toggle', HTMLButtonElement),
    cancel: byId('new-room-cancel', HTMLButtonElement),
    name: byId('new-room-name', HTMLInputElement),
    id: byId('new-room-id', HTMLInputElement),
    isPrivate: byId('new-room-private', HTMLInputElement),
    idError: byId('new-room-id-error', HTMLElement),
    formError: byId('new-room-error', HTMLElement),
  },
  chatApi,
  (room) => {
    core.directory.roomCreated(room);
    void core.joins.openRoom(room.id).then(() => composer.focus());
  },
);

const members = new MembersPanel(
  byId('members', HTMLDetailsElement),
  byId('members-form', HTMLFormElement),
  byId('member-username', HTMLInputElement),
  byId('member-message', HTMLElement),
  chatApi,
);

const drawer = new Drawer(
  root,
  sidebar,
  byId('sidebar-toggle', HTMLButtonElement),
  byId('sidebar-close', HTMLButtonElement),
  byId('sidebar-backdrop', HTMLElement),
);

// ---- the page side of the core ---------------------------------------------------

/** @type {ReturnType<typeof setTimeout> | undefined} */
let noticeTimer;
/** Messages of others that arrived in the shown conversation while the page was hidden. */
let unseen = 0;

function updateDocumentTitle() {
  const { active } = core.state;
  const name = active ? (active.kind === 'room' ? `#${active.title}` : active.title) : 'Chat';
  document.title = `${unseen ? `(${unseen}) ` : ''}${name} · Live Chat`;
}

/** The DOM side of showing a conversation. @param {Conversation} conv */
function show(conv) {
  root.dataset.active = conv.key;
  titleSigil.textContent = conv.kind === 'room' ? (conv.privateRoom ? '🔒' : '#') : '@';
  titleName.textContent = conv.title;
  rooms.setActive(conv.kind === 'room' ? conv.target : null);
  dms.setActive(conv.kind === 'dm' ? conv.target : null);
  composer.setTarget(conv.kind === 'room' ? `#${conv.title}` : conv.target === me.username ? 'yourself' : conv.title);
  members.showFor(conv.kind === 'room' ? { id: conv.target, name: conv.title, private: conv.privateRoom, owner: conv.owner } : undefined, me.username);
  typing.show(conv.kind === 'room' ? conv.target : null);
  view.show(conv);
  updateDocumentTitle();
}

/** @type {CoreUi} */
const ui = {
  show,
  update: (conv, opts) => view.update(conv, opts),
  updateEdge: (conv) => view.updateEdge(conv),
  underfilled: () => view.underfilled,
  unseen: (count) => {
    if (!document.hidden) return;
    unseen += count;
    updateDocumentTitle();
  },
  unread: (conv) => dms.setUnread(conv.target, conv.unread),
  reactions: (conv, messageId) => view.setReactions(conv, messageId),
  notice: (text) => {
    clearTimeout(noticeTimer);
    noticeEl.textContent = text;
    noticeEl.hidden = false;
    noticeTimer = setTimeout(() => (noticeEl.hidden = true), NOTICE_MS);
  },
  joined: (roomId) => {
    if (roomId) root.dataset.joined = roomId;
    else delete root.dataset.joined;
  },
  leftRoom: () => typing.clear(),
  pick: (roomId) => rooms.setActive(roomId),
  closeDrawer: () => drawer.close(false),
  rooms: (list, changed) => rooms.set(list, changed),
  presence: (users) => presence.render(users),
  dmSeen: (username, displayName) => dms.ensure(username, displayName),
  dmName: (username) => dms.get(username)?.displayName,
};

const core = createChatCore({ me, initialRoom, link: connection, api: chatApi, ui });

/** The session is over (signed out here or elsewhere, revoked, expired). @param {string} reason */
function onEnded(reason) {
  const why = {
    logout: 'You signed out, here or in another tab.',
    revoked: 'This sign-in was ended from another device or by a password change.',
    expired: 'Your session expired after a while without activity.',
    unauthorized: 'Your session is no longer valid.',
  };
  endedReason.textContent = why[/** @type {keyof typeof why} */ (reason)] ?? 'Your session has ended.';
  endedBanner.hidden = false;
  document.body.classList.add('session-ended');
  root.classList.add('ended');
  composer.setEnabled(false);
  typing.clear();
  core.directory.clearPresence();
  drawer.close(false);
  sidebar.inert = true;
  members.showFor(undefined, me.username);
}

// ---- server events ---------------------------------------------------------------

const { socket } = connection;

socket.on('disconnect', () => {
  typing.clear();
  core.outbox.connectionLost();
});

socket.on('message:new', (message) => {
  if (core.roomMessage(message)) typing.sent(message.roomId, message.user);
});

socket.on('dm:new', (message) => core.dmMessage(message));

socket.on('typing', ({ roomId, user, typing: isTyping }) => {
  if (user.username !== me.username) typing.set(roomId, user, isTyping);
});

socket.on('reaction', (event) => core.reaction(event));

socket.on('presence', ({ user, online }) => core.directory.presence(user, online));

socket.on('session', (session) => {
  me.displayName = session.user.displayName;
  root.dataset.displayName = session.user.displayName;
  view.setMyName(session.user.displayName);
  for (const el of document.querySelectorAll('[data-testid="me"]')) el.textContent = session.user.displayName;
  if (core.state.online.get(me.username)) core.directory.presence(session.user, true);
  const theme = session.prefs.theme ?? 'system';
  if (document.documentElement.dataset.theme !== theme) document.documentElement.dataset.theme = theme;
});

socket.on('room:removed', ({ roomId }) => core.joins.removed(roomId));

// ---- page events -------------------------------------------------------------------

document.addEventListener('visibilitychange', () => {
  if (document.hidden || !unseen) return;
  unseen = 0;
  updateDocumentTitle();
});
window.addEventListener('focus', () => {
  if (connection.connected) void core.directory.refreshRooms();
});
