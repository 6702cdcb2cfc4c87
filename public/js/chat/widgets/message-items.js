// @ts-check
/** The list items of the message view: stored messages, their reactions, and pending ones. Text goes in as text only. */
import { h } from '../dom.js';
import { fullTimeLabel, timeLabel } from '../util.js';

/** @typedef {import('../types.js').Message} Message */
/** @typedef {import('../types.js').Pending} Pending */
/** @typedef {import('../types.js').Reactions} Reactions */
/** @typedef {import('../core/conversation.js').Conversation} Conversation */

/** The quick reactions offered on every room message. */
export const QUICK_REACTIONS = ['👍', '❤️', '😂', '🎉', '😮', '👀'];

/**
 * A stored message: author, time, text and, in a room, its reactions and the picker.
 * @param {Conversation} conv @param {Message} m @param {string} me my username
 */
export function messageElement(conv, m, me) {
  const own = m.user.username === me;
  const li = h('li', {
    class: own ? 'message own' : 'message',
    attrs: { 'data-testid': 'message' },
    data: { messageId: m.id, username: m.user.username },
  });
  li.append(
    h(
      'div',
      { class: 'meta' },
      h('span', { class: 'author', text: m.user.displayName }),
      m.user.displayName !== m.user.username ? h('span', { class: 'handle', text: `@${m.user.username}` }) : null,
      h('time', { attrs: { datetime: m.ts, title: fullTimeLabel(m.ts) }, text: timeLabel(m.ts) }),
    ),
    h('p', { class: 'text', attrs: { 'data-testid': 'message-text' }, text: m.text }),
  );
  if (conv.kind === 'room') {
    const reactions = h('div', { class: 'reactions', attrs: { role: 'group', 'aria-label': 'Reactions' } });
    fillReactions(reactions, conv.reactions.get(m.id) ?? {}, me);
    li.append(
      reactions,
      h(
        'div',
        { class: 'msg-tools' },
        h('button', {
          class: 'react-toggle',
          text: '☺',
          attrs: { type: 'button', 'aria-expanded': 'false', 'aria-label': `Add a reaction to ${m.user.displayName}'s message`, title: 'Add a reaction' },
        }),
        h(
          'span',
          { class: 'react-choices', attrs: { role: 'group', 'aria-label': 'Reactions to add' } },
          ...QUICK_REACTIONS.map((emoji) =>
            h('button', { class: 'react', text: emoji, data: { emoji }, attrs: { type: 'button', 'aria-label': `React with ${emoji}`, title: `React with ${emoji}` } }),
          ),
        ),
      ),
    );
  }
  return li;
}

/** The reaction chips of a message. @param {Element} box @param {Reactions} reactions @param {string} me my username */
export function fillReactions(box, reactions, me) {
  const chips = [];
  for (const [emoji, users] of Object.entries(reactions)) {
    if (!users.length) continue;
    const mine = users.includes(me);
    const names = users.map((u) => (u === me ? 'you' : `@${u}`)).join(', ');
    chips.push(
      h(
        'button',
        {
          class: 'reaction',
          data: { emoji },
          attrs: {
            type: 'button',
            'aria-pressed': String(mine),
            title: names,
            'aria-label': `${emoji} ${users.length}: ${names}`,
            'data-testid': 'reaction',
          },
        },
        h('span', { text: emoji, attrs: { 'aria-hidden': 'true' } }),
        h('span', { class: 'n', text: String(users.length), attrs: { 'aria-hidden': 'true' } }),
      ),
    );
  }
  box.replaceChildren(...chips);
}

/**
 * A message of mine not confirmed yet: waiting, sending, or failed with Retry and Discard.
 * @param {Pending} p @param {{ username: string, displayName: string }} me
 */
export function pendingElement(p, me) {
  const li = h('li', {
    class: `message own pending${p.status === 'failed' ? ' failed' : ''}`,
    attrs: { 'data-testid': 'message' },
    data: { clientMsgId: p.clientMsgId, status: p.status, username: me.username },
  });
  const state =
    p.status === 'failed'
      ? h(
          'div',
          { class: 'delivery', attrs: { role: 'alert' } },
          h('span', { text: `Not sent: ${p.error ?? 'failed'}` }),
          h('button', { text: 'Retry', data: { action: 'retry' }, attrs: { type: 'button' } }),
          h('button', { text: 'Discard', data: { action: 'discard' }, attrs: { type: 'button' } }),
        )
      : h('div', { class: 'delivery', text: p.status === 'waiting' ? 'Waiting for the connection…' : 'Sending…' });
  li.append(
    h('div', { class: 'meta' }, h('span', { class: 'author', text: me.displayName }), h('time', { attrs: { datetime: p.ts }, text: timeLabel(p.ts) })),
    h('p', { class: 'text', attrs: { 'data-testid': 'message-text' }, text: p.text }),
    state,
  );
  return li;
}
