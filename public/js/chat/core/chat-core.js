// @ts-check
/**
 * The chat page's core, without the page: state, outbox, catch-up, join
 * sequencing, history and directory, put together around an injected socket
 * (`link`), HTTP API, page sink (`ui`), clock and id source. chat.js feeds it
 * the socket's events and the widgets' wishes, and shows what it says.
 */
import { newClientMsgId, dmPartner } from '../util.js';
import { CatchUp } from './catch-up.js';
import { describe } from './describe.js';
import { Directory } from './directory.js';
import { History } from './history.js';
import { Joins } from './joins.js';
import { Outbox } from './outbox.js';
import { ChatState, noteIncoming } from './state.js';

/** @typedef {import('../types.js').CoreContext} CoreContext */
/** @typedef {import('../types.js').Message} Message */
/** @typedef {import('../types.js').Reactions} Reactions */
/** @typedef {import('./conversation.js').Conversation} Conversation */

/**
 * @param {{
 *   me: { username: string, displayName: string },
 *   initialRoom: string,
 *   link: CoreContext['link'],
 *   api: CoreContext['api'],
 *   ui: CoreContext['ui'],
 *   now?: () => Date,
 *   newId?: () => string,
 * }} o
 */
export function createChatCore({ me, initialRoom, link, api, ui, now = () => new Date(), newId = newClientMsgId }) {
  const state = new ChatState(me, initialRoom);
  /** @type {CoreContext} */
  const ctx = { state, link, api, ui, now, newId };
  const outbox = new Outbox(ctx);
  const history = new History(ctx, outbox);
  const catchUp = new CatchUp(ctx, history);
  const directory = new Directory(ctx);
  const joins = new Joins(ctx, { outbox, history, catchUp, directory });

  /** @param {Conversation} conv @param {string} messageId @param {Reactions} reactions */
  function setReactions(conv, messageId, reactions) {
    conv.reactions.set(messageId, reactions);
    ui.reactions(conv, messageId);
  }

  return {
    state,
    outbox,
    history,
    catchUp,
    joins,
    directory,

    /** `message:new`: false when the page has no such room. @param {Message} message */
    roomMessage(message) {
      return catchUp.roomMessage(message);
    },

    /** `dm:new`, mine (from another tab) or to me: the conversation appears if it was not there. @param {Message} message */
    dmMessage(message) {
      const partner = dmPartner(message, me.username);
      const known = state.dmConv(partner);
      const name = message.user.username === partner ? message.user.displayName : (known?.title ?? state.online.get(partner)?.displayName ?? partner);
      const conv = state.conversation('dm', partner, name);
      ui.dmSeen(partner, name);
      noteIncoming(state, ui, conv, conv.add([message]));
    },

    /** `reaction`: a message's whole reaction map. @param {{ roomId: string, messageId: string, reactions: Reactions }} event */
    reaction({ roomId, messageId, reactions }) {
      const conv = state.roomConv(roomId);
      if (conv) setReactions(conv, messageId, reactions);
    },

    /** Toggles my reaction. @param {Conversation} conv @param {string} messageId @param {string} emoji */
    async react(conv, messageId, emoji) {
      if (conv.kind !== 'room') return;
      const res = await link.request('reaction:toggle', { roomId: conv.target, messageId, emoji });
      if (!res.ok) {
        ui.notice(`Could not react: ${describe(res.error)}.`);
        return;
      }
      setReactions(conv, messageId, res.reactions);
    },
  };
}

/** @typedef {ReturnType<typeof createChatCore>} ChatCore */
