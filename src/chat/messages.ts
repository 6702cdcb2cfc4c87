import type { ChatStore, Posted } from './ports.js';
import { roomConversation } from './conversations.js';
import { page, type Page, type PageRequest } from './pages.js';
import { requireRoomAccess, roomRefusal } from './rooms.js';
import type { Message, User } from './types.js';
import { publicUser } from './users.js';

export interface SendMessageInput {
  roomId: string;
  text: string;
  clientMsgId?: string;
}

/**
 * Stores a room message as `user` (the session's user, never the payload's) and returns it with id and ts,
 * and whether another process may serve the room (ChatStore.postToRoom).
 * The room's existence and the user's access are checked in the same store step as the write
 * (one round trip, and no window in which a removed member could still post).
 */
export async function sendMessage(chat: ChatStore, user: User, input: SendMessageInput): Promise<Posted> {
  const message: Omit<Message, 'id' | 'ts'> = { roomId: input.roomId, user: publicUser(user), text: input.text };
  if (input.clientMsgId !== undefined) message.clientMsgId = input.clientMsgId;
  const posted = await chat.postToRoom(input.roomId, message);
  if (typeof posted === 'string') throw roomRefusal(input.roomId, posted);
  return posted;
}

/** A page of a room's history, oldest first; forbidden for a private room the user is not in. */
export async function history(chat: ChatStore, user: User, roomId: string, req: PageRequest = {}): Promise<Page> {
  const room = await requireRoomAccess(chat, user, roomId);
  return page(chat, roomConversation(room.id), req);
}
