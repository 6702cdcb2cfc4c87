// @ts-check
/**
 * The chat page: wires the socket, the conversations and the widgets.
 * Modules under ./chat/ hold the pieces (connection, model, rendering,
 * composer, sidebar); this file is the controller that decides what happens.
 */
import { Composer } from './chat/composer.js';
import { Connection } from './chat/connection.js';
import { Conversation } from './chat/conversation.js';
import { byId, find } from './chat/dom.js';
import { MessageView } from './chat/message-view.js';
import { DmList, Drawer, MembersPanel, NewRoomForm, PresenceList, RoomList } from './chat/sidebar.js';
import { TypingIndicator } from './chat/typing.js';
import { compareIds, dmPartner, newClientMsgId } from './chat/util.js';

/** @typedef {import('./chat/types.js').Message} Message */
/** @typedef {import('./chat/types.js').Room} Room */
/** @typedef {import('./chat/types.js').Pending} Pending */
/** @typedef {import('./chat/types.js').Failure} Failure */

/** Messages a join or history page returns by default (the server's page size). */
const PAGE = 50;
/** A catch-up longer than this is not worth keeping the whole gap: show the newest page and page back on demand. */
const CATCH_UP_KEEP = 300;
/** Messages per page when filling a gap: the most the server answers at once (and what `room:join {since}` answers). */
const GAP_PAGE = 100;
const DM_PAGE = 100;
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

/** @type {Map<string, Conversation>} */
const conversations = new Map();
/** @type {Conversation | null} */
let active = null;
/** The room this socket has joined (at most one at a time), or null. */
/** @type {string | null} */
let joinedRoom = null;
/** A room asked for while there is no connection: opened once connected. */
/** @type {string | null} */
let wantedRoom = null;
/** True while a (re)connection is catching up: the outbox waits so that nothing is sent twice. */
let catchingUp = true;
/** Joins run one after another; the last one asked for is the one shown. */
let joinQueue = Promise.resolve();
/**
 * Rooms whose gap is being filled, page by page: their live messages wait here until it is,
 * so that a catch-up cut short never leaves a hole before them (the next one starts at the last message shown).
 * @type {Map<string, Message[]>}
 */
const heldLive = new Map();
let openSeq = 0;
let unseen = 0;

// ---- widgets -------------------------------------------------------------------

const connection = new Connection(find(root, '[data-testid="connection-status"]', HTMLElement), {
  onConnect: (reconnect) => onConnect(reconnect),
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
    onReact: (conv, messageId, emoji) => void react(conv, messageId, emoji),
    onRetry: (conv, clientMsgId) => {
      const p = conv.findPending(clientMsgId);
      if (!p) return;
      p.status = 'waiting';
      view.update(conv, { stick: true });
      void flushOutbox(conv);
    },
    onDiscard: (conv, clientMsgId) => {
      conv.pending = conv.pending.filter((p) => p.clientMsgId !== clientMsgId);
      view.update(conv);
      composer.focus();
    },
    onLoadOlder: (conv) => void loadOlder(conv),
  },
});

const composer = new Composer({
  form: byId('composer-form', HTMLFormElement),
  textarea: find(root, '[data-testid="composer"]', HTMLTextAreaElement),
  send: find(root, '[data-testid="send"]', HTMLButtonElement),
  counter: byId('composer-count', HTMLElement),
  label: byId('composer-label', HTMLElement),
  onSend: (text) => send(text),
  onTyping: (typing) => {
    if (active?.kind === 'room' && joinedRoom === active.target) void connection.request('typing', { roomId: active.target, typing });
  },
});

const typing = new TypingIndicator(find(root, '[data-testid="typing"]', HTMLElement));

const rooms = new RoomList(find(root, '[data-testid="room-list"]', HTMLUListElement), (roomId) => void openRoom(roomId));
rooms.set(
  [...root.querySelectorAll('[data-testid="room"]')].map((li) => {
    const id = li instanceof HTMLElement ? (li.dataset.roomId ?? '') : '';
    return { id, name: li.querySelector('.label')?.textContent ?? id, private: li.querySelector('.visually-hidden') !== null, owner: null };
  }),
);
rooms.setActive(initialRoom);

const dms = new DmList(byId('dm-list', HTMLUListElement), byId('dm-empty', HTMLElement), me.username, (username) => void openDm(username));

const presence = new PresenceList(
  find(root, '[data-testid="presence"]', HTMLUListElement),
  byId('presence-count', HTMLElement),
  byId('people-options', HTMLDataListElement),
  me.username,
  (user) => void openDm(user.username, user.displayName),
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
  (room) => {
    rooms.add(room);
    void openRoom(room.id).then(() => composer.focus());
  },
);

const members = new MembersPanel(
  byId('members', HTMLDetailsElement),
  byId('members-form', HTMLFormElement),
  byId('member-username', HTMLInputElement),
  byId('member-message', HTMLElement),
);

const drawer = new Drawer(
  root,
  sidebar,
  byId('sidebar-toggle', HTMLButtonElement),
  byId('sidebar-close', HTMLButtonElement),
  byId('sidebar-backdrop', HTMLElement),
);

// ---- helpers -------------------------------------------------------------------

/** @type {ReturnType<typeof setTimeout> | undefined} */
let noticeTimer;
/** A short message under the conversation header. @param {string} text */
function notice(text) {
  clearTimeout(noticeTimer);
  noticeEl.textContent = text;
  noticeEl.hidden = false;
  noticeTimer = setTimeout(() => (noticeEl.hidden = true), NOTICE_MS);
}

/** @param {{ code: string, message: string }} error */
function describe(error) {
  switch (error.code) {
    case 'rate_limited':
      return 'you are sending too fast; wait a moment';
    case 'offline':
      return 'no connection';
    case 'timeout':
      return 'the server did not answer';
    case 'forbidden':
      return 'you are not allowed here';
    default:
      return error.message;
  }
}

function updateDocumentTitle() {
  const name = active ? (active.kind === 'room' ? `#${active.title}` : active.title) : 'Chat';
  document.title = `${unseen ? `(${unseen}) ` : ''}${name} · Live Chat`;
}

/** @param {Conversation} conv @param {Message[]} added */
function countUnseen(conv, added) {
  if (!document.hidden || conv !== active) return;
  unseen += added.filter((m) => m.user.username !== me.username).length;
  updateDocumentTitle();
}

/** @param {string} roomId */
function roomConv(roomId) {
  return conversations.get(Conversation.key('room', roomId));
}

// ---- conversations ---------------------------------------------------------------

/**
 * Joins a room (leaving the previous one) and merges what the join returns:
 * the newest page, or everything after the last message already shown (the join
 * answers its first page, `message:history {after}` the rest).
 * @param {string} roomId
 * @returns {Promise<{ conv: Conversation, added: Message[] } | { error: Failure['error'] }>}
 */
async function joinRoom(roomId) {
  // A rejoin fills its gap in several requests: live messages wait (heldLive) until that is done.
  if (!roomConv(roomId)?.lastId) return joinAndLoad(roomId);
  heldLive.set(roomId, []);
  try {
    return await joinAndLoad(roomId);
  } finally {
    heldLive.delete(roomId);
  }
}

/** @param {string} roomId @returns {ReturnType<typeof joinRoom>} */
async function joinAndLoad(roomId) {
  const cached = roomConv(roomId);
  const since = cached?.lastId;
  const res = await connection.request('room:join', since ? { roomId, since } : { roomId });
  if (!res.ok) return { error: res.error };
  if (joinedRoom && joinedRoom !== roomId) {
    const left = joinedRoom;
    void connection.request('room:leave', { roomId: left });
    typing.clear();
  }
  joinedRoom = roomId;
  root.dataset.joined = roomId;
  const conv = cached ?? new Conversation('room', roomId, res.room.name);
  conversations.set(conv.key, conv);
  conv.title = res.room.name;
  conv.privateRoom = res.room.private;
  conv.owner = res.room.owner;
  let history = res.history;
  if (since) {
    const gap = (await restOfGap(roomId, res.history, res.hasMore)) ?? (await newestInstead(conv));
    history = [...gap, ...(heldLive.get(roomId) ?? [])];
  } else {
    conv.hasOlder = res.hasMore;
  }
  const added = conv.add(history);
  conv.loaded = true;
  return { conv, added };
}

/**
 * The whole gap after a join with `since` answered its first page and `hasMore`: the
 * next pages forward until none remain. Null when the gap is longer than CATCH_UP_KEEP
 * (not worth loading) or a page could not be had.
 * @param {string} roomId @param {Message[]} first @param {boolean} hasMore
 * @returns {Promise<Message[] | null>}
 */
async function restOfGap(roomId, first, hasMore) {
  const gap = [...first];
  for (let more = hasMore; more; ) {
    const after = gap.at(-1)?.id;
    if (!after || gap.length >= CATCH_UP_KEEP) return null;
    const res = await connection.request('message:history', { roomId, after, limit: GAP_PAGE });
    if (!res.ok) return null;
    gap.push(...res.messages);
    more = res.hasMore;
  }
  return gap;
}

/**
 * Instead of a gap not worth filling: forget what the conversation had and take the
 * newest page. Older history then loads on scroll, back from the first message shown,
 * so no hole is left either way (nor when this page fails: scrolling asks again).
 * @param {Conversation} conv
 * @returns {Promise<Message[]>}
 */
async function newestInstead(conv) {
  conv.resetMessages();
  const res = await connection.request('message:history', { roomId: conv.target, limit: PAGE });
  if (!res.ok) return [];
  conv.hasOlder = res.hasMore;
  return res.messages;
}

/** Opens a room: joins it if needed, then shows it. @param {string} roomId */
async function openRoom(roomId) {
  drawer.close(false);
  if (connection.ended) return;
  const seq = ++openSeq;
  const cached = roomConv(roomId);
  if (joinedRoom === roomId && cached) {
    activate(cached);
    return;
  }
  if (!connection.connected || catchingUp) {
    // Not live yet: remember it; onConnect opens it.
    wantedRoom = roomId;
    rooms.setActive(roomId);
    return;
  }
  rooms.setActive(roomId);
  const run = joinQueue.then(async () => {
    const result = await joinRoom(roomId);
    if ('error' in result) {
      if (seq === openSeq) {
        notice(`Could not open #${rooms.get(roomId)?.name ?? roomId}: ${describe(result.error)}.`);
        if (active) activate(active);
        else if (roomId !== 'general') void openRoom('general');
      }
      return;
    }
    if (seq === openSeq) activate(result.conv);
    void flushOutbox(result.conv);
  });
  joinQueue = run.catch(() => undefined);
  await run;
}

/** Opens the direct-message conversation with a user. @param {string} username @param {string} [displayName] */
async function openDm(username, displayName) {
  drawer.close(false);
  if (connection.ended) return;
  openSeq += 1;
  const key = Conversation.key('dm', username);
  const name = displayName ?? presence.get(username)?.displayName ?? dms.get(username)?.displayName ?? username;
  let conv = conversations.get(key);
  if (!conv) conversations.set(key, (conv = new Conversation('dm', username, name)));
  if (displayName) conv.title = displayName;
  dms.ensure(username, conv.title);
  activate(conv);
  if (!conv.loaded) await loadDm(conv);
}

/** First page of a direct-message conversation. @param {Conversation} conv */
async function loadDm(conv) {
  const res = await connection.request('dm:history', { with: conv.target, limit: PAGE });
  if (!res.ok) {
    if (res.error.code !== 'offline') notice(res.error.code === 'not_found' ? `There is no user @${conv.target}.` : `Could not load messages: ${describe(res.error)}.`);
    return;
  }
  conv.add(res.messages);
  conv.hasOlder = res.hasMore;
  conv.loaded = true;
  view.update(conv, { stick: true });
  fillIfShort(conv);
  void flushOutbox(conv);
}

/** After a reconnection: everything newer than the last message shown, page by page. @param {Conversation} conv */
async function catchUpDm(conv) {
  const known = conv.lastId;
  if (!known) return loadDm(conv);
  /** @type {Message[]} */
  const got = [];
  /** @type {string | undefined} */
  let before;
  for (let i = 0; i < 10; i++) {
    const res = await connection.request('dm:history', { with: conv.target, limit: DM_PAGE, ...(before && { before }) });
    if (!res.ok) return;
    got.push(...res.messages);
    const first = res.messages[0];
    if (!res.hasMore || !first || compareIds(first.id, known) <= 0) break;
    before = first.id;
  }
  const added = conv.add(got);
  afterIncoming(conv, added);
}

/** Shows a conversation. @param {Conversation} conv */
function activate(conv) {
  active = conv;
  root.dataset.active = conv.key;
  titleSigil.textContent = conv.kind === 'room' ? (conv.privateRoom ? '🔒' : '#') : '@';
  titleName.textContent = conv.title;
  rooms.setActive(conv.kind === 'room' ? conv.target : null);
  dms.setActive(conv.kind === 'dm' ? conv.target : null);
  composer.setTarget(conv.kind === 'room' ? `#${conv.title}` : conv.target === me.username ? 'yourself' : conv.title);
  const room = conv.kind === 'room' ? (rooms.get(conv.target) ?? { id: conv.target, name: conv.title, private: conv.privateRoom, owner: conv.owner }) : undefined;
  members.showFor(room && { ...room, private: conv.privateRoom, owner: conv.owner }, me.username);
  typing.show(conv.kind === 'room' ? conv.target : null);
  if (conv.unread) {
    conv.unread = 0;
    if (conv.kind === 'dm') dms.setUnread(conv.target, 0);
  }
  view.show(conv);
  updateDocumentTitle();
  fillIfShort(conv);
}

/** Loads older pages while the list does not fill the screen (scrolling could not ask for them). @param {Conversation} conv */
function fillIfShort(conv) {
  if (conv === active && conv.loaded && conv.hasOlder && !conv.loadingOlder && view.underfilled) void loadOlder(conv);
}

/** One page of older history, kept in place on screen. @param {Conversation} conv */
async function loadOlder(conv) {
  if (conv.loadingOlder || !conv.hasOlder || !conv.loaded || !connection.connected) return;
  conv.loadingOlder = true;
  view.updateEdge(conv);
  const before = conv.firstId;
  const res =
    conv.kind === 'room'
      ? await connection.request('message:history', { roomId: conv.target, limit: PAGE, ...(before && { before }) })
      : await connection.request('dm:history', { with: conv.target, limit: PAGE, ...(before && { before }) });
  conv.loadingOlder = false;
  if (res.ok) {
    conv.add(res.messages);
    conv.hasOlder = res.hasMore;
    view.update(conv, { mode: 'prepend' });
    fillIfShort(conv);
  } else {
    view.updateEdge(conv);
    if (res.error.code !== 'offline') notice(`Could not load older messages: ${describe(res.error)}.`);
  }
}

/** New messages arrived in a conversation (live, or by catching up). @param {Conversation} conv @param {Message[]} added */
function afterIncoming(conv, added) {
  if (!added.length) return;
  if (conv === active) {
    const own = added.some((m) => m.user.username === me.username && m.clientMsgId);
    view.update(conv, { mode: 'append', added: added.length, stick: own });
    countUnseen(conv, added);
  } else if (conv.kind === 'dm') {
    conv.unread += added.filter((m) => m.user.username !== me.username).length;
    dms.setUnread(conv.target, conv.unread);
  }
}

// ---- sending ---------------------------------------------------------------------

/** Queues a message for the active conversation; it shows at once and is sent when possible. @param {string} text */
function send(text) {
  const conv = active;
  if (!conv || connection.ended) return false;
  /** @type {Pending} */
  const p = { clientMsgId: newClientMsgId(), text, ts: new Date().toISOString(), status: 'waiting', attempt: 0 };
  conv.pending.push(p);
  view.update(conv, { stick: true });
  void flushOutbox(conv);
  return true;
}

/** @param {Conversation} conv */
function canSend(conv) {
  return connection.connected && !catchingUp && (conv.kind === 'dm' || joinedRoom === conv.target);
}

/** Sends the waiting messages of a conversation, one at a time and in order. @param {Conversation} conv */
async function flushOutbox(conv) {
  if (conv.flushing) return;
  conv.flushing = true;
  try {
    /** @type {Pending | undefined} */
    let p;
    while (canSend(conv) && (p = conv.pending.find((x) => x.status === 'waiting'))) await deliver(conv, p);
  } finally {
    conv.flushing = false;
  }
}

/** @param {Conversation} conv @param {Pending} p */
async function deliver(conv, p) {
  p.status = 'sending';
  const attempt = ++p.attempt;
  view.update(conv);
  const res =
    conv.kind === 'room'
      ? await connection.request('message:send', { roomId: conv.target, text: p.text, clientMsgId: p.clientMsgId })
      : await connection.request('dm:send', { to: conv.target, text: p.text, clientMsgId: p.clientMsgId });
  // Already settled: the message came back by an event or a catch-up, was discarded, or this send was abandoned.
  if (!conv.findPending(p.clientMsgId) || p.attempt !== attempt) return;
  if (res.ok) {
    afterIncoming(conv, conv.add([res.message]));
    view.update(conv, { stick: true });
    return;
  }
  if (res.error.code === 'offline' || (res.error.code === 'timeout' && !connection.connected)) {
    p.status = 'waiting';
  } else {
    p.status = 'failed';
    p.error = describe(res.error);
  }
  view.update(conv);
}

/** @param {Conversation} conv @param {string} messageId @param {string} emoji */
async function react(conv, messageId, emoji) {
  if (conv.kind !== 'room') return;
  const res = await connection.request('reaction:toggle', { roomId: conv.target, messageId, emoji });
  if (!res.ok) {
    notice(`Could not react: ${describe(res.error)}.`);
    return;
  }
  conv.reactions.set(messageId, res.reactions);
  view.setReactions(conv, messageId);
}

// ---- connection lifecycle ----------------------------------------------------------

/** Connected (first time or again): join, catch up, refresh presence and rooms, then send what waited. @param {boolean} reconnect */
async function onConnect(reconnect) {
  catchingUp = true;
  try {
    const presenceLoad = connection.request('presence:list', {}).then((res) => {
      if (res.ok) presence.reset(res.online);
    });
    void rooms.refresh();
    const target = wantedRoom ?? joinedRoom ?? (active?.kind === 'room' ? active.target : null) ?? initialRoom;
    const showRoom = wantedRoom !== null || !active || active.kind === 'room';
    wantedRoom = null;
    joinedRoom = null; // a new socket has joined nothing yet
    const joined = await joinRoom(target);
    if ('error' in joined) {
      if (reconnect && target !== 'general') notice(`You can no longer open #${rooms.get(target)?.name ?? target}.`);
      roomConv(target) && conversations.delete(Conversation.key('room', target));
      if (target !== 'general') {
        const fallback = await joinRoom('general');
        if (!('error' in fallback) && (showRoom || active?.kind === 'room')) activate(fallback.conv);
      }
    } else if (showRoom && (!reconnect || active !== joined.conv)) {
      activate(joined.conv);
    } else {
      afterIncoming(joined.conv, joined.added);
    }
    if (reconnect) {
      await Promise.all([...conversations.values()].filter((c) => c.kind === 'dm' && c.loaded).map((c) => catchUpDm(c)));
    } else if (active?.kind === 'dm' && !active.loaded) {
      await loadDm(active);
    }
    await presenceLoad;
  } finally {
    catchingUp = false;
  }
  for (const conv of conversations.values()) void flushOutbox(conv);
  // A room picked while this catch-up ran.
  if (wantedRoom !== null) {
    const roomId = wantedRoom;
    wantedRoom = null;
    await openRoom(roomId);
  }
}

/** Connection lost: sends in flight will be retried after the catch-up (unless it shows they arrived). */
connection.socket.on('disconnect', () => {
  typing.clear();
  for (const conv of conversations.values()) {
    let changed = false;
    for (const p of conv.pending) {
      if (p.status !== 'sending') continue;
      p.status = 'waiting';
      p.attempt += 1;
      changed = true;
    }
    if (changed) view.update(conv);
  }
});

/** @param {string} reason */
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
  presence.reset([]);
  drawer.close(false);
  sidebar.inert = true;
  members.showFor(undefined, me.username);
}

// ---- server events ---------------------------------------------------------------

const { socket } = connection;

socket.on('message:new', (message) => {
  const conv = roomConv(message.roomId);
  if (!conv) return;
  typing.sent(message.roomId, message.user);
  const held = heldLive.get(message.roomId);
  if (held) held.push(message);
  else afterIncoming(conv, conv.add([message]));
});

socket.on('dm:new', (message) => {
  const partner = dmPartner(message, me.username);
  const key = Conversation.key('dm', partner);
  let conv = conversations.get(key);
  const partnerName = message.user.username === partner ? message.user.displayName : (conv?.title ?? presence.get(partner)?.displayName ?? partner);
  if (!conv) conversations.set(key, (conv = new Conversation('dm', partner, partnerName)));
  dms.ensure(partner, partnerName);
  afterIncoming(conv, conv.add([message]));
});

socket.on('typing', ({ roomId, user, typing: isTyping }) => {
  if (user.username !== me.username) typing.set(roomId, user, isTyping);
});

socket.on('reaction', ({ roomId, messageId, reactions }) => {
  const conv = roomConv(roomId);
  if (!conv) return;
  conv.reactions.set(messageId, reactions);
  view.setReactions(conv, messageId);
});

socket.on('presence', ({ user, online }) => presence.set(user, online));

socket.on('session', (session) => {
  me.displayName = session.user.displayName;
  root.dataset.displayName = session.user.displayName;
  view.setMyName(session.user.displayName);
  for (const el of document.querySelectorAll('[data-testid="me"]')) el.textContent = session.user.displayName;
  if (presence.get(me.username)) presence.set(session.user, true);
  const theme = session.prefs.theme ?? 'system';
  if (document.documentElement.dataset.theme !== theme) document.documentElement.dataset.theme = theme;
});

socket.on('room:removed', ({ roomId }) => {
  const name = roomConv(roomId)?.title ?? rooms.get(roomId)?.name ?? roomId;
  const wasActive = active?.kind === 'room' && active.target === roomId;
  if (joinedRoom === roomId) {
    joinedRoom = null;
    delete root.dataset.joined;
  }
  conversations.delete(Conversation.key('room', roomId));
  notice(`You were removed from #${name}.`);
  void rooms.refresh();
  if (wasActive) {
    active = null;
    void openRoom('general');
  }
});

// ---- page events -------------------------------------------------------------------

document.addEventListener('visibilitychange', () => {
  if (document.hidden || !unseen) return;
  unseen = 0;
  updateDocumentTitle();
});
window.addEventListener('focus', () => {
  if (connection.connected) void rooms.refresh();
});
