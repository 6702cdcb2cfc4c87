import type { ChatStore } from './ports.js';
import { dmConversation } from './conversations.js';
import { page, type Page, type PageRequest } from './pages.js';
import type { Message, User } from './types.js';
import { publicUser, requireUserNamed, type FindUserByUsername } from './users.js';

/*
 * Direct messages. A user may message themself (a private notepad, as in
 * Slack): the conversation is then `dm:<me>:<me>` and only they can read it.
 * Refusing it would buy nothing, since nobody else can see it either.
 */

export interface SendDmInput {
  to: string;
  text: string;
  clientMsgId?: string;
}

/** Stores a DM from `sender`; its `roomId` is the `dm:<a>:<b>` conversation and `to` the recipient's username. */
export async function sendDm(
  chat: ChatStore,
  sender: User,
  input: SendDmInput,
  findUserByUsername: FindUserByUsername,
): Promise<Message> {
  const recipient = await requireUserNamed(findUserByUsername, input.to);
  const conversation = dmConversation(sender.username, recipient.username);
  const message: Omit<Message, 'id' | 'ts'> = {
    roomId: conversation,
    user: publicUser(sender),
    text: input.text,
    to: recipient.username,
  };
  if (input.clientMsgId !== undefined) message.clientMsgId = input.clientMsgId;
  return chat.append(conversation, message);
}

/**
 * A page of the conversation between `user` and `withUsername`. Only the two
 * participants can name it, because the id is built from the session's own
 * username: there is no way to ask for someone else's pair.
 */
export async function dmHistory(
  chat: ChatStore,
  user: User,
  withUsername: string,
  req: PageRequest,
  findUserByUsername: FindUserByUsername,
): Promise<Page> {
  const other = await requireUserNamed(findUserByUsername, withUsername);
  return page(chat, dmConversation(user.username, other.username), req);
}
