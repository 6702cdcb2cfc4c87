import { compareMessageIds, createMessageIdGenerator, isMessageId, messageIdToIso } from '../../chat/message-ids.js';
import { GENERAL_ROOM_ID, generalRoom, MAX_REACTION_EMOJIS } from '../../chat/policy.js';
import { normalizeReactions } from '../../chat/reaction-map.js';
import type { Message, Reactions, Room } from '../../chat/types.js';
import type { ChatStore, ConversationId } from '../../chat/ports.js';
import { roomConversation } from '../../chat/conversations.js';

export interface MemoryChatStoreOptions {
  historyLimit: number;
  maxReactionEmojis?: number;
}

interface Conversation {
  messages: Message[]; // oldest first
  reactions: Map<string, Map<string, Set<string>>>; // messageId → emoji → usernames
}

/**
 * One-process chat store. It behaves like the Redis store in every way the
 * contract tests can see: same id format, same trimming, same errors. It hands
 * out copies so callers cannot change stored state by mutating a result.
 */
export function createMemoryChatStore(opts: MemoryChatStoreOptions): ChatStore {
  const maxEmojis = opts.maxReactionEmojis ?? MAX_REACTION_EMOJIS;
  const rooms = new Map<string, Room>([[GENERAL_ROOM_ID, generalRoom()]]);
  const members = new Map<string, Set<string>>();
  const conversations = new Map<ConversationId, Conversation>();
  const nextId = createMessageIdGenerator();

  const membersOf = (roomId: string) => members.get(roomId) ?? members.set(roomId, new Set()).get(roomId)!;
  const conversationOf = (id: ConversationId) =>
    conversations.get(id) ?? conversations.set(id, { messages: [], reactions: new Map() }).get(id)!;

  function trim(conversation: Conversation) {
    const excess = conversation.messages.length - opts.historyLimit;
    if (excess <= 0) return;
    for (const gone of conversation.messages.splice(0, excess)) conversation.reactions.delete(gone.id);
  }

  function append(conversation: ConversationId, input: Omit<Message, 'id' | 'ts'>): Message {
    const id = nextId();
    const message: Message = { ...structuredClone(input), id, ts: messageIdToIso(id) };
    const conv = conversationOf(conversation);
    conv.messages.push(message);
    trim(conv);
    return structuredClone(message);
  }

  function findMessage(conversation: ConversationId, messageId: string): Message | undefined {
    if (!isMessageId(messageId)) return undefined;
    return conversations.get(conversation)?.messages.find((m) => m.id === messageId);
  }

  function toggleIn(emojis: Map<string, Set<string>>, emoji: string, username: string) {
    const users = emojis.get(emoji);
    if (!users) {
      emojis.set(emoji, new Set([username]));
      return;
    }
    if (!users.delete(username)) users.add(username);
    if (users.size === 0) emojis.delete(emoji);
  }

  return {
    async createRoom(room) {
      if (rooms.has(room.id)) return false;
      rooms.set(room.id, { ...room });
      if (room.owner) membersOf(room.id).add(room.owner);
      return true;
    },
    async getRoom(roomId) {
      const room = rooms.get(roomId);
      return room ? { ...room } : null;
    },
    async listRooms() {
      return [...rooms.values()].map((r) => ({ ...r }));
    },
    async addMember(roomId, username) {
      membersOf(roomId).add(username);
    },
    async removeMember(roomId, username) {
      members.get(roomId)?.delete(username);
    },
    async isMember(roomId, username) {
      return members.get(roomId)?.has(username) ?? false;
    },

    async postToRoom(roomId, input) {
      const room = rooms.get(roomId);
      if (!room) return 'missing';
      // canAccess's rule (chat/rooms.ts): public, or a private room's owner or member.
      const poster = input.user.username;
      if (room.private && room.owner !== poster && !members.get(roomId)?.has(poster)) return 'forbidden';
      // One process: nobody elsewhere.
      return { message: await append(roomConversation(roomId), input), servedElsewhere: false };
    },
    append: async (conversation, input) => append(conversation, input),
    async page(conversation, { before, after, limit }) {
      const all = conversations.get(conversation)?.messages ?? [];
      const inRange = all.filter(
        (m) => (!before || compareMessageIds(m.id, before) < 0) && (!after || compareMessageIds(m.id, after) > 0),
      );
      // With only `before` (or nothing) the page hugs the newer end; with `after` it starts right after it.
      const slice = after ? inRange.slice(0, limit) : inRange.slice(Math.max(0, inRange.length - limit));
      const reactions = conversations.get(conversation)?.reactions;
      return slice.map((m) => {
        const emojis = reactions?.get(m.id);
        const copy = structuredClone(m);
        if (emojis?.size) copy.reactions = normalizeReactions(Object.fromEntries(emojis));
        return copy;
      });
    },
    async hasMessage(conversation, messageId) {
      return findMessage(conversation, messageId) !== undefined;
    },
    async toggleReaction(conversation, messageId, emoji, username) {
      if (!findMessage(conversation, messageId)) return 'missing';
      const reactions = conversationOf(conversation).reactions;
      const emojis = reactions.get(messageId) ?? new Map<string, Set<string>>();
      if (!emojis.has(emoji) && emojis.size >= maxEmojis) return 'full';
      toggleIn(emojis, emoji, username);
      if (emojis.size > 0) reactions.set(messageId, emojis);
      else reactions.delete(messageId);
      return normalizeReactions(Object.fromEntries(emojis));
    },
  };
}
