import type { ChatStore } from '../store/types.js';
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
 * map. The store does it in one atomic step and raises not_found for an
 * unknown (or trimmed) message and bad_request past MAX_REACTION_EMOJIS
 * distinct emojis: a check here, before the write, could race another toggle.
 */
export async function toggleReaction(chat: ChatStore, user: User, input: ToggleReactionInput): Promise<Reactions> {
  const room = await requireRoomAccess(chat, user, input.roomId);
  return chat.toggleReaction(roomConversation(room.id), input.messageId, input.emoji, user.username);
}
