import type { ChatStore, ConversationId } from '../store/types.js';
import { DEFAULT_PAGE_SIZE, MAX_CATCH_UP, MAX_PAGE_SIZE } from './policy.js';
import type { Message } from './types.js';

export interface PageRequest {
  before?: string;
  limit?: number;
}

/** Clamped here too, not only in the schemas, so no caller can ask a store for an unbounded page. */
function pageSize(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit)) return DEFAULT_PAGE_SIZE;
  return Math.min(MAX_PAGE_SIZE, Math.max(1, Math.floor(limit)));
}

/** The newest page, or the page just older than `before`; oldest first either way. */
export function olderPage(chat: ChatStore, conversation: ConversationId, req: PageRequest): Promise<Message[]> {
  const page: { before?: string; limit: number } = { limit: pageSize(req.limit) };
  if (req.before) page.before = req.before;
  return chat.page(conversation, page);
}

export function latest(chat: ChatStore, conversation: ConversationId): Promise<Message[]> {
  return chat.page(conversation, { limit: DEFAULT_PAGE_SIZE });
}

/**
 * Every message after `since`, in pages, so a reconnecting client fills its
 * gap without holes or repeats. Bounded by MAX_CATCH_UP (history is trimmed
 * far below that in practice). If `since` was already trimmed away, the client
 * gets all that is left: older messages are gone for everyone.
 */
export async function catchUp(chat: ChatStore, conversation: ConversationId, since: string): Promise<Message[]> {
  const out: Message[] = [];
  let after = since;
  while (out.length < MAX_CATCH_UP) {
    const page = await chat.page(conversation, { after, limit: MAX_PAGE_SIZE });
    out.push(...page);
    const last = page.at(-1);
    if (!last || page.length < MAX_PAGE_SIZE) break;
    after = last.id;
  }
  return out.slice(0, MAX_CATCH_UP);
}
