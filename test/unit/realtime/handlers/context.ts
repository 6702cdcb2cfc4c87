/**
 * An EventContext for one handler, without a server: the in-memory stores, the
 * real rate limits, and a socket, a server and a live session that record what
 * the handler did to them. The handler tests mirror src/realtime/handlers/.
 */
import { expect } from 'chai';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import type { z } from 'zod';
import type { LiveSession } from 'socket.io-live-session';
import { dmConversation, roomConversation } from '../../../../src/chat/conversations.js';
import { sendDm } from '../../../../src/chat/dms.js';
import { sendMessage } from '../../../../src/chat/messages.js';
import type { Message, User } from '../../../../src/chat/types.js';
import { publicUser, publicUserFinder } from '../../../../src/chat/users.js';
import { DEFAULT_LIMITS, type Limits } from '../../../../src/config.js';
import { createLogger } from '../../../../src/logger.js';
import type { AppServer, AppSocket } from '../../../../src/realtime/events.js';
import type { AckData, EventContext, EventHandler } from '../../../../src/realtime/handler.js';
import type { ClientEventName } from '../../../../src/realtime/events.js';
import { socketRooms } from '../../../../src/realtime/rooms.js';
import { createLimits } from '../../../../src/security/limits.js';
import type { ChatSession } from '../../../../src/session/types.js';
import { createMemoryChatStore } from '../../../../src/store/memory/chat.js';
import { createMemoryPresenceStore } from '../../../../src/store/memory/presence.js';
import { memoryQuota } from '../../../../src/store/memory/quota.js';
import { createMemoryUserStore } from '../../../../src/store/memory/users.js';

/**
 * One emit: to whom (`io:<room>` from the server, `local:<room>` from the server to this process's sockets only,
 * `socket:<room>` from the socket, i.e. all but the sender), what, with what.
 */
export type Sent = { to: string; event: string; payload: unknown };

export interface World {
  /** The context of the next event of `user` (alice by default). */
  ctx(user?: User): EventContext;
  /** Runs a handler the way the dispatcher does: the payload through its schema first (a schema failure throws). */
  run<E extends ClientEventName>(handler: EventHandler<E>, payload: unknown, user?: User): Promise<AckData<E>>;
  alice: User;
  bob: User;
  chat: ReturnType<typeof createMemoryChatStore>;
  presence: ReturnType<typeof createMemoryPresenceStore>;
  /** Everything emitted, in order. */
  sent: Sent[];
  /** The Socket.IO rooms of each user's (one) socket. */
  rooms(user?: User): Set<string>;
  /** The session of each user's socket; null ends it (`requireLive` then refuses). */
  sessions: Map<string, ChatSession | null>;
  /** What `caughtUp` was told. */
  caughtUp: Array<[room: string, conversation: string, lastId: string | undefined]>;
  /** How many live.update calls changed the session. */
  writes: number;
}

export async function world(opts: { limits?: Partial<Limits> } = {}): Promise<World> {
  const users = createMemoryUserStore();
  const make = async (username: string) =>
    publicUser((await users.create({ username, displayName: username.toUpperCase(), passwordHash: 'x' }))!);
  const alice = await make('alice');
  const bob = await make('bob');
  const chat = createMemoryChatStore({ historyLimit: 1000 });
  const presence = createMemoryPresenceStore();
  const limits = createLimits(
    { limiter: ({ name, points, durationSeconds }) => new RateLimiterMemory({ keyPrefix: name, points, duration: durationSeconds }), quota: memoryQuota },
    { ...DEFAULT_LIMITS, ...opts.limits },
  );
  const sent: Sent[] = [];
  const socketRoomsOf = new Map<string, Set<string>>();
  const sessions = new Map<string, ChatSession | null>();
  const caughtUp: World['caughtUp'] = [];
  const log = createLogger('silent');
  const state = { writes: 0 };

  const socketOf = (user: User) => {
    if (!socketRoomsOf.has(user.id)) socketRoomsOf.set(user.id, new Set([`sid-${user.username}`, socketRooms.user(user.id)]));
    if (!sessions.has(user.id)) sessions.set(user.id, { passport: { user: user.id } });
    const rooms = socketRoomsOf.get(user.id)!;
    return {
      id: `sid-${user.username}`,
      rooms,
      data: { user, inFlight: 0 },
      join: async (room: string) => void rooms.add(room),
      leave: async (room: string) => void rooms.delete(room),
      to: (room: string) => ({ emit: (event: string, payload: unknown) => void sent.push({ to: `socket:${room}`, event, payload }) }),
    } as unknown as AppSocket;
  };
  const io = {
    to: (room: string) => ({ emit: (event: string, payload: unknown) => void sent.push({ to: `io:${room}`, event, payload }) }),
    // io.local: this process's sockets only (nothing published to other processes).
    local: { to: (room: string) => ({ emit: (event: string, payload: unknown) => void sent.push({ to: `local:${room}`, event, payload }) }) },
  } as unknown as AppServer;
  const userOfSocket = (socket: AppSocket) => socket.data.user.id;
  const live = {
    session: (socket: AppSocket) => sessions.get(userOfSocket(socket)) ?? null,
    async update(socket: AppSocket, fn: (draft: Record<string, unknown>) => unknown) {
      const current = sessions.get(userOfSocket(socket));
      if (!current) throw new Error('session ended');
      const draft = structuredClone(current) as Record<string, unknown>;
      if (fn(draft) === false) return;
      sessions.set(userOfSocket(socket), draft as ChatSession);
      state.writes += 1;
    },
  } as unknown as LiveSession;

  const ctx = (user: User = alice): EventContext => {
    const socket = socketOf(user);
    return {
      chat,
      presence,
      findUser: publicUserFinder(users),
      limits,
      live,
      joinHeld: (s, room) => s.join(room) as Promise<void>,
      caughtUp: (room, conversation, lastId) => void caughtUp.push([room, conversation, lastId]),
      socket,
      io,
      session: sessions.get(user.id)!,
      user,
      log,
    };
  };

  return {
    ctx,
    run: async (handler, payload, user) => handler.handle(handler.schema.parse(payload) as never, ctx(user)),
    alice,
    bob,
    chat,
    presence,
    sent,
    rooms: (user = alice) => (socketOf(user), socketRoomsOf.get(user.id)!),
    sessions,
    caughtUp,
    get writes() {
      return state.writes;
    },
  };
}

/** Identity keys a client might claim in any payload; every schema must drop them. */
export const IDENTITY_CLAIMS = { user: { id: 'mallory' }, userId: 'mallory', user_id: 'mallory', from: 'mallory' };

/** Assertions on one payload schema: what it accepts, what it refuses, and that claimed identity is dropped. */
export function schemaCheck(schema: z.ZodType) {
  return {
    ok: (payload: unknown) => expect(schema.safeParse(payload).success, JSON.stringify(payload)).to.equal(true),
    bad: (payload: unknown) => expect(schema.safeParse(payload).success, JSON.stringify(payload)).to.equal(false),
    /** `valid` plus IDENTITY_CLAIMS parses to `valid`, exactly. */
    dropsIdentity: (valid: object) => expect(schema.parse({ ...valid, ...IDENTITY_CLAIMS })).to.deep.equal(valid),
  };
}

/** The context of an event of `user` (alice) admitted while the session was live, the session then ending before the handler runs. */
export function endedCtx(w: World, user: User = w.alice): EventContext {
  const ctx = w.ctx(user);
  w.sessions.set(user.id, null);
  return ctx;
}

/** Stores a room message as `user` (bob by default), the way message:send does, without going through a handler. */
export const post = (w: World, roomId: string, text: string, user: User = w.bob): Promise<Message> =>
  sendMessage(w.chat, user, { roomId, text }).then((posted) => posted.message);

/** Stores a direct message from `from` to `to`, without going through a handler. */
export const dm = (w: World, from: User, to: User, text: string): Promise<Message> => sendDm(w.chat, from, { to: to.username, text }, async () => to);

/** Everything stored in a room, oldest first. */
export const roomMessages = (w: World, roomId: string): Promise<Message[]> => w.chat.page(roomConversation(roomId), { limit: 1000 });

/** Everything stored between two users (or a user's notes to self), oldest first. */
export const dmMessages = (w: World, a: User, b: User): Promise<Message[]> => w.chat.page(dmConversation(a.username, b.username), { limit: 1000 });
