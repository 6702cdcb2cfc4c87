import { AppError } from '../errors.js';
import type { ChatStore } from './ports.js';
import { roomConversation } from './conversations.js';
import { requireRoomAccess } from './rooms.js';
import type { Reactions, User } from './types.js';

export interface ToggleReactionInput {
  roomId: string;
  messageId: string;
  emoji: string;
}

/**
 * Adds or removes the user's `emoji` on a room message and answers the whole
 * map. The store does it in one atomic step and answers `missing` for an
 * unknown (or trimmed) message and `full` past MAX_REACTION_EMOJIS distinct
 * emojis (a check here, before the write, could race another toggle): they
 * are not_found and bad_request to the user.
 */
export async function toggleReaction(chat: ChatStore, user: User, input: ToggleReactionInput): Promise<Reactions> {
  const room = await requireRoomAccess(chat, user, input.roomId);
  const outcome = await chat.toggleReaction(roomConversation(room.id), input.messageId, input.emoji, user.username);
  if (outcome === 'missing') throw new AppError('not_found', 'no such message');
  if (outcome === 'full') throw new AppError('bad_request', 'too many different reactions on this message');
  return outcome;
}
