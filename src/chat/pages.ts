import type { ChatStore, ConversationId } from './ports.js';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from './policy.js';
import type { Message } from './types.js';

export interface PageRequest {
  before?: string;
  after?: string;
  limit?: number;
}

/** Oldest first. `hasMore`: more messages remain beyond the page, on the side it pages towards. */
export interface Page {
  messages: Message[];
  hasMore: boolean;
}

/** Clamped here too, not only in the schemas, so no caller can ask a store for an unbounded page. */
function pageSize(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit)) return DEFAULT_PAGE_SIZE;
  return Math.min(MAX_PAGE_SIZE, Math.max(1, Math.floor(limit)));
}

/**
 * One page of a conversation. Without `after` it is the newest page older than
 * `before` (or the newest of all) and pages back; with `after` it starts right
 * after it (and stays older than `before`, if given) and pages forward.
 * `hasMore` costs no second query: the store is asked for one message more
 * than the page holds, on the side the page leads to, and that one is dropped.
 */
export async function page(chat: ChatStore, conversation: ConversationId, req: PageRequest): Promise<Page> {
  const limit = pageSize(req.limit);
  const got = await chat.page(conversation, { before: req.before, after: req.after, limit: limit + 1 });
  const hasMore = got.length > limit;
  if (!hasMore) return { messages: got, hasMore };
  // Forward pages overflow at the newer end, backward pages at the older end.
  return { messages: req.after ? got.slice(0, limit) : got.slice(1), hasMore };
}
