import { setTimeout as sleep } from 'node:timers/promises';
import { MessageType, type ClusterAdapter, type ClusterMessage } from 'socket.io-adapter';
import { compareMessageIds } from '../chat/message-ids.js';
import { page } from '../chat/pages.js';
import { MAX_PAGE_SIZE } from '../chat/policy.js';
import type { Message } from '../chat/types.js';
import type { Logger } from '../logger.js';
import type { ChatStore } from '../chat/ports.js';
import type { ConnectionHealth } from './ports.js';
import type { AppServer } from './events.js';

/**
 * Ids are minted by the store when a message is appended and published a
 * moment later, so two processes can publish in the other order than their
 * ids: catching up starts this long before the newest id seen, and clients
 * drop what they already have (they dedupe by id).
 */
const REORDER_MARGIN_MS = 5_000;
/** At most this many pages per conversation and outage: a bound, not a target. */
const MAX_PAGES = 10;
/**
 * A catch-up whose store read failed (the command connection reconnects on its own
 * schedule, and may be back a moment after the subscriber that asked for the catch-up)
 * is tried again this often, at most this many rounds.
 */
const RETRY_MS = 500;
const RETRY_ROUNDS = 20;

type Delivered = 'message:new' | 'dm:new';
const DELIVERED = new Set<string>(['message:new', 'dm:new']);

/** The newest message id delivered, per conversation, per Socket.IO room with sockets here. */
type Seen = Map<string, Map<string, string>>;

const later = (a: string | undefined, b: string) => (a === undefined || compareMessageIds(b, a) > 0 ? b : a);
const before = (id: string, ms: number) => `${Math.max(0, Number(id.split('-')[0]) - ms)}-0`;
/** The conversation a delivered message belongs to (room messages carry the room id; DMs their `dm:a:b`). */
const conversationOf = (message: Message) => (message.roomId.startsWith('dm:') ? message.roomId : `room:${message.roomId}`);

/**
 * Nothing acknowledged is lost across a Redis blip. Messages reach the other
 * processes over pub/sub, which keeps nothing for a subscriber that is cut off;
 * but every message is stored before it is acknowledged. So this process
 * remembers the newest message it delivered in each conversation of each room
 * with sockets here (from its own sends and from the adapter), freezes that
 * when the subscriber is cut off, and once it is back catches those rooms'
 * sockets up from the store. DMs are caught up in the conversations a user's
 * room had seen; one begun during the outage shows in its history.
 */
export function createRecovery(deps: { io: AppServer; chat: ChatStore; subscriptions: ConnectionHealth; log: Logger }) {
  const { io, chat, log } = deps;
  const seen: Seen = new Map();
  let frozen: Seen | undefined;

  function note(room: string, conversation: string, id: string) {
    let conversations = seen.get(room);
    if (!conversations) seen.set(room, (conversations = new Map()));
    conversations.set(conversation, later(conversations.get(conversation), id));
  }

  /** Watches what the adapter delivers: broadcasts made here, and those that arrive from other processes. */
  function watch(adapter: ClusterAdapter) {
    const observe = (packet: { data?: unknown[] }, rooms: Iterable<string>) => {
      const [event, message] = packet.data ?? [];
      if (typeof event !== 'string' || !DELIVERED.has(event)) return;
      const m = message as Message;
      for (const room of rooms) note(room, conversationOf(m), m.id);
    };
    const broadcast = adapter.broadcast.bind(adapter);
    adapter.broadcast = (packet, opts) => {
      observe(packet, opts.rooms);
      return broadcast(packet, opts);
    };
    // onMessage is where every message from another process enters the adapter (protected: the extension point of ClusterAdapter).
    const incoming = adapter as unknown as { onMessage(message: ClusterMessage, offset?: string): void };
    const onMessage = incoming.onMessage.bind(adapter);
    incoming.onMessage = (message, offset) => {
      if (message.type === MessageType.BROADCAST) {
        const data = message.data as { packet: { data?: unknown[] }; opts: { rooms: string[] } };
        observe(data.packet, data.opts.rooms);
      }
      return onMessage(message, offset);
    };
    adapter.on('delete-room', (room: string) => seen.delete(room));
  }

  /** A socket joined `room` after reading the conversation's history up to `newest` (nothing missed before it). */
  function joined(room: string, conversation: string, newest: string | undefined) {
    note(room, conversation, newest ?? '0-0');
  }

  async function catchUp(room: string, conversation: string, from: string) {
    const event: Delivered = conversation.startsWith('dm:') ? 'dm:new' : 'message:new';
    let after = before(from, REORDER_MARGIN_MS);
    for (let n = 0; n < MAX_PAGES; n++) {
      const { messages, hasMore } = await page(chat, conversation, { after, limit: MAX_PAGE_SIZE });
      for (const m of messages) io.local.to(room).emit(event, m);
      const last = messages.at(-1);
      if (!last || !hasMore) return;
      after = last.id;
    }
  }

  /**
   * Catches each (room, conversation) up from its id; those whose read failed are tried
   * again every RETRY_MS, while their room still has sockets here. False when some never succeeded.
   */
  async function catchUpAll(todo: Array<[room: string, conversation: string, from: string]>, why: string): Promise<boolean> {
    for (let round = 1; ; round++) {
      const failed: typeof todo = [];
      let error: unknown;
      for (const item of todo) {
        if (!seen.has(item[0])) continue; // no socket here in that room any more
        await catchUp(...item).catch((err: unknown) => {
          failed.push(item);
          error = err;
        });
      }
      if (failed.length === 0) return true;
      if (round === RETRY_ROUNDS) {
        log.warn({ err: String(error), rooms: new Set(failed.map(([room]) => room)).size }, `catching up rooms ${why} failed; their sockets see the gap when they join again`);
        return false;
      }
      todo = failed;
      await sleep(RETRY_MS);
    }
  }

  /** Catches one room up from what it was last delivered (its registration as a server of it lapsed, see ports.ts). */
  async function missed(room: string) {
    await catchUpAll([...(seen.get(room) ?? [])].map(([conversation, id]) => [room, conversation, id]), 'after a lapsed lease');
  }

  async function recover() {
    const from = frozen ?? seen;
    frozen = undefined;
    const todo: Array<[string, string, string]> = [];
    for (const [room, convs] of seen) {
      for (const [conversation, id] of convs) todo.push([room, conversation, from.get(room)?.get(conversation) ?? id]);
    }
    if (await catchUpAll(todo, 'after a Redis outage')) {
      log.info({ rooms: seen.size, conversations: todo.length }, 'caught up the rooms with sockets here after the subscriber was cut off');
    }
  }

  deps.subscriptions.on('cut-off', () => {
    // What was delivered up to now: messages from then on may be lost until the subscriber is back.
    frozen ??= new Map([...seen].map(([room, convs]) => [room, new Map(convs)]));
  });
  // Restored: the room channels' subscriptions are in place again (on a cluster, moved to the new masters).
  deps.subscriptions.on('restored', () => void recover());

  return { watch, joined, missed };
}

export type Recovery = ReturnType<typeof createRecovery>;
