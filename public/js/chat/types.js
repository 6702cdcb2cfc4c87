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

export {};
