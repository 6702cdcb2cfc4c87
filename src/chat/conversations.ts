import type { ConversationId } from './ports.js';

/**
 * A conversation id names where messages live: a room (`room:<roomId>`) or a
 * direct-message pair (`dm:<a>:<b>`). Room ids and usernames cannot contain
 * `:`, so the id parses back unambiguously.
 */
export type Conversation = { kind: 'room'; roomId: string } | { kind: 'dm'; a: string; b: string };

export function roomConversation(roomId: string): ConversationId {
  return `room:${roomId}`;
}

/** Sorted, so that both participants name the same conversation. */
export function dmConversation(a: string, b: string): ConversationId {
  const [first, second] = [a, b].sort();
  return `dm:${first}:${second}`;
}

export function parseConversation(id: ConversationId): Conversation {
  const parts = id.split(':');
  if (parts.length === 2 && parts[0] === 'room' && parts[1]) return { kind: 'room', roomId: parts[1] };
  if (parts.length === 3 && parts[0] === 'dm' && parts[1] && parts[2]) return { kind: 'dm', a: parts[1], b: parts[2] };
  throw new TypeError(`not a conversation id: ${JSON.stringify(id)}`);
}
