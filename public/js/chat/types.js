// @ts-check
/**
 * Types shared by the chat modules. They come from the server's own
 * definitions (type-only imports: nothing here is loaded at run time), so the
 * client and the protocol cannot drift apart unnoticed by `tsc`.
 */

/** @typedef {import('../../../src/chat/types.js').User} User */
/** @typedef {import('../../../src/chat/types.js').Room} Room */
/** @typedef {import('../../../src/chat/types.js').Reactions} Reactions */
/** @typedef {import('../../../src/chat/types.js').Message & { reactions?: Reactions }} Message */
/** @typedef {import('../../../src/realtime/events.js').SessionView} SessionView */
/** @typedef {import('../../../src/realtime/events.js').ServerToClientEvents} ServerEvents */
/** @typedef {import('../../../src/realtime/events.js').ClientToServerEvents} ClientEvents */
/** @typedef {import('/socket.io/socket.io.esm.min.js').Socket<ServerEvents, ClientEvents>} ChatSocket */

/** @typedef {'connecting' | 'connected' | 'disconnected' | 'ended'} ConnectionState */

/**
 * What an acknowledgement can carry. Besides the server's codes, the client
 * uses `offline` (not sent: no connection) and `timeout` (no answer in time).
 * @typedef {{ ok: false, error: { code: string, message: string } }} Failure
 */

/**
 * The successful acknowledgement of a client event.
 * @template {keyof ClientEvents} E
 * @typedef {Extract<Parameters<Parameters<ClientEvents[E]>[1]>[0], { ok: true }>} AckOk
 */

/**
 * @template {keyof ClientEvents} E
 * @typedef {AckOk<E> | Failure} AckOf
 */

/**
 * A message typed here and not yet confirmed by the server.
 * `waiting`: held until the connection (and the room) is ready; `sending`: emitted, no ack yet;
 * `failed`: the server refused it or did not answer (the user may retry).
 * `attempt` counts sends, so that the answer to an abandoned send (the connection dropped) is ignored.
 * @typedef {{ clientMsgId: string, text: string, ts: string, status: 'waiting' | 'sending' | 'failed', error?: string, attempt: number }} Pending
 */

/** @typedef {import('./core/conversation.js').Conversation} Conversation */

/**
 * What an HTTP API call answers (public/js/chat/api.js). Never a thrown error:
 * a network failure is `{ok:false, status:0, error:{code:'network'}}`.
 * @typedef {{ ok: true, status: number, data: any } | { ok: false, status: number, error: { code: string, message: string } }} ApiResult
 */

/**
 * Every HTTP call the chat page makes, one function each (api.js); widgets and
 * the core get this object instead of calling `fetch` themselves.
 * @typedef {{
 *   listRooms: () => Promise<ApiResult>,
 *   createRoom: (body: { id: string, private: boolean, name?: string }) => Promise<ApiResult>,
 *   addMember: (roomId: string, username: string) => Promise<ApiResult>,
 *   removeMember: (roomId: string, username: string) => Promise<ApiResult>,
 *   signedIn: () => Promise<boolean>,
 * }} ChatApi
 */

/**
 * The socket as the core sees it (the Connection satisfies it; tests pass a fake):
 * `request` emits a client event and resolves with its acknowledgement, never throwing.
 * @typedef {{
 *   request: <E extends keyof ClientEvents>(event: E, payload: unknown) => Promise<AckOf<E>>,
 *   readonly connected: boolean,
 *   readonly ended: boolean,
 * }} Link
 */

/**
 * What the core asks of the page. The core decides; these only show.
 * @typedef {{
 *   show: (conv: Conversation) => void,
 *   update: (conv: Conversation, opts?: { mode?: 'append' | 'prepend' | 'refresh', stick?: boolean, added?: number }) => void,
 *   updateEdge: (conv: Conversation) => void,
 *   underfilled: () => boolean,
 *   unseen: (count: number) => void,
 *   unread: (conv: Conversation) => void,
 *   reactions: (conv: Conversation, messageId: string) => void,
 *   notice: (text: string) => void,
 *   joined: (roomId: string | null) => void,
 *   leftRoom: () => void,
 *   pick: (roomId: string) => void,
 *   closeDrawer: () => void,
 *   rooms: (rooms: Room[], changed: boolean) => void,
 *   presence: (users: User[]) => void,
 *   dmSeen: (username: string, displayName: string) => void,
 *   dmName: (username: string) => string | undefined,
 * }} CoreUi
 */

/**
 * What the core is made of: its state, the page's socket and HTTP API, the page's
 * sink, and a clock and an id source (injected so that tests can fix them).
 * @typedef {{
 *   state: import('./core/state.js').ChatState,
 *   link: Link,
 *   api: ChatApi,
 *   ui: CoreUi,
 *   now: () => Date,
 *   newId: () => string,
 * }} CoreContext
 */

export {};
