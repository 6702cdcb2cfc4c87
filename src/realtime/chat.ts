import { ClusterAdapter } from 'socket.io-adapter';
import { publicUser } from '../chat/users.js';
import { dmHistory, sendDm } from '../chat/dms.js';
import { history, sendMessage } from '../chat/messages.js';
import { listOnline } from '../chat/presence.js';
import { toggleReaction } from '../chat/reactions.js';
import { roomConversation } from '../chat/conversations.js';
import { joinRoom, requireRoomAccess } from '../chat/rooms.js';
import { clientEventSchemas as s } from '../chat/schemas.js';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { RateLimits } from '../security/limits.js';
import type { LiveSession } from 'socket.io-live-session';
import { credentialsCurrent } from '../session/types.js';
import type { RecordedPresence } from '../store/redis/presence.js';
import type { Stores } from '../store/types.js';
import type { AppServer, AppSocket } from './events.js';
import { defineHandler, requireLive, type EventContext, type EventHandler } from './handler.js';
import { HandshakeRefusal, type Undo } from './io.js';
import { deliverLocallyFirst } from './local-first.js';
import { createRecovery, type Recovery } from './recovery.js';
import { keepSessionViews } from './session-view.js';
import { socketRooms } from './rooms.js';
import { PRESENCE_HEARTBEAT_MS, PRESENCE_SWEEP_EVERY_MS } from '../timings.js';

export interface ChatRealtimeDeps {
  stores: Stores;
  live: LiveSession;
  config: Config;
  limits: RateLimits;
  log: Logger;
}


interface SweepingPresence {
  heartbeat(): Promise<void>;
  sweep(): Promise<string[]>;
  mine(): Promise<RecordedPresence>;
  handOver(afterMs: number): Promise<void>;
}
const sweeps = (p: object): p is SweepingPresence => 'sweep' in p && 'heartbeat' in p;

/**
 * The chat over Socket.IO: one handler per client event, presence per user,
 * and the per-user send limit. Handlers validate, call the domain, broadcast, ack.
 */
export function createChatRealtime(deps: ChatRealtimeDeps) {
  const { stores, log, limits, live } = deps;
  const { chat, presence, roomChannels } = stores;

  /**
   * Joins a Socket.IO room once this process gets the room's broadcasts from the
   * other processes, so that whatever the caller reads next cannot miss one.
   */
  async function joinHeld(socket: AppSocket, room: string) {
    const release = await roomChannels.hold(room);
    try {
      await socket.join(room);
    } finally {
      release();
    }
  }
  const findUserByUsername = async (username: string) => {
    const u = await stores.users.findByUsername(username);
    return u && publicUser(u);
  };
  const findUserById = async (id: string) => {
    const u = await stores.users.findById(id);
    return u && publicUser(u);
  };

  /** Sending, typing and reacting need the socket to have joined the room first. */
  function requireJoined(ctx: EventContext, roomId: string) {
    if (!ctx.socket.rooms.has(socketRooms.room(roomId))) throw new AppError('forbidden', `join room ${roomId} first`);
  }

  const handlers: EventHandler[] = [
    defineHandler({
      event: 'room:join',
      schema: s['room:join'],
      async handle({ roomId, since }, ctx) {
        const room = socketRooms.room((await requireRoomAccess(chat, ctx.user, roomId)).id);
        await joinHeld(ctx.socket, room);
        // History is read after joining, so a message stored meanwhile is in it or arrives
        // live (clients dedupe by id); and joinRoom checks access again, so a removal that
        // ran since the first check cannot leave this socket in the room.
        let result: Awaited<ReturnType<typeof joinRoom>>;
        try {
          result = await joinRoom(chat, ctx.user, roomId, since ? { since } : {});
        } catch (err) {
          await ctx.socket.leave(room);
          throw err;
        }
        // Nothing up to the newest message read (or `since`) can be missed here after a blip; the client pages on from there.
        recovery?.joined(room, roomConversation(result.room.id), result.history.at(-1)?.id ?? since);
        // The live view says whether the session already names this room: a rejoin
        // (reconnects do it all the time) then costs no lock and no store read.
        if (ctx.session.lastRoomId !== result.room.id) {
          await live.update(ctx.socket, (draft) => {
            if (draft.lastRoomId === result.room.id) return false;
            draft.lastRoomId = result.room.id;
          });
        }
        return result;
      },
    }),
    defineHandler({
      event: 'room:leave',
      schema: s['room:leave'],
      async handle({ roomId }, ctx) {
        await ctx.socket.leave(socketRooms.room(roomId));
        return {};
      },
    }),
    defineHandler({
      event: 'message:send',
      schema: s['message:send'],
      async handle(input, ctx) {
        requireJoined(ctx, input.roomId);
        await limits.consume('send', ctx.user.id);
        requireLive(ctx);
        const message = await sendMessage(chat, ctx.user, input);
        // Every member's socket, the sender's included ("room members", unlike typing's "other room members").
        ctx.io.to(socketRooms.room(input.roomId)).emit('message:new', message);
        return { message };
      },
    }),
    defineHandler({
      event: 'message:history',
      schema: s['message:history'],
      async handle({ roomId, ...page }, ctx) {
        return history(chat, ctx.user, roomId, page);
      },
    }),
    defineHandler({
      event: 'typing',
      schema: s.typing,
      async handle({ roomId, typing }, ctx) {
        requireJoined(ctx, roomId);
        await limits.consume('typing', ctx.user.id);
        requireLive(ctx);
        // The room's own channel: only the processes with sockets in it receive it.
        ctx.socket.to(socketRooms.room(roomId)).emit('typing', { roomId, user: ctx.user, typing });
        return {};
      },
    }),
    defineHandler({
      event: 'reaction:toggle',
      schema: s['reaction:toggle'],
      async handle(input, ctx) {
        requireJoined(ctx, input.roomId);
        await limits.consume('reaction', ctx.user.id);
        requireLive(ctx);
        const reactions = await toggleReaction(chat, ctx.user, input);
        ctx.io.to(socketRooms.room(input.roomId)).emit('reaction', { roomId: input.roomId, messageId: input.messageId, reactions });
        return { reactions };
      },
    }),
    defineHandler({
      event: 'dm:send',
      schema: s['dm:send'],
      async handle(input, ctx) {
        const recipient = await findUserByUsername(input.to);
        if (!recipient) throw new AppError('not_found', `no user ${input.to}`);
        await limits.consume('send', ctx.user.id); // after the lookup: a typo in `to` costs no send
        requireLive(ctx);
        const message = await sendDm(chat, ctx.user, input, async () => recipient);
        // One emit per user room, so each goes on that room's channel (to the processes with its
        // sockets); one emit to both rooms would go to every process. A socket is one user's, so
        // nobody gets it twice; a note to oneself is one room.
        for (const id of new Set([ctx.user.id, recipient.id])) ctx.io.to(socketRooms.user(id)).emit('dm:new', message);
        return { message };
      },
    }),
    defineHandler({
      event: 'dm:history',
      schema: s['dm:history'],
      async handle({ with: other, ...page }, ctx) {
        return dmHistory(chat, ctx.user, other, page, findUserByUsername);
      },
    }),
    defineHandler({
      event: 'presence:list',
      schema: s['presence:list'],
      async handle(_input, _ctx) {
        return { online: await listOnline(presence, findUserById) };
      },
    }),
  ];

  let io: AppServer | undefined;
  const timers: NodeJS.Timeout[] = [];

  type AnnouncedUser = { id: string; username: string; displayName: string };
  const announce = (user: AnnouncedUser, online: boolean) => io?.emit('presence', { user: publicUser(user), online });
  /** Announces a user offline; `known` saves the lookup when the caller has the user at hand. */
  const announceOffline = async (userId: string, known?: AnnouncedUser) => {
    const user = known ?? (await findUserById(userId));
    if (user) announce(user, false);
  };

  /** Presence writes still in flight, so a shutdown can let them finish before Redis closes. */
  const pending = new Set<Promise<unknown>>();
  const track = <T>(p: Promise<T>): Promise<T> => {
    pending.add(p);
    const done = () => pending.delete(p);
    p.then(done, done);
    return p;
  };

  /** This process's sockets, to put presence right after writes were lost to an outage. */
  const local = new Map<string, AppSocket>();
  /** Set when a presence write failed: the next good heartbeat resyncs this process's entries. */
  let presenceDirty = false;
  const presenceFailed = (what: string, username?: string) => (err: unknown) => {
    presenceDirty = true;
    log.error({ err: String(err), user: username }, what);
  };

  /** Admitted sockets that are their user's first anywhere: announced online once connected. */
  const firstSockets = new WeakSet<AppSocket>();

  const graceMs = deps.config.presenceGraceMs;
  /**
   * The grace periods this process is to settle: userId → timer. One per user: a newer
   * one replaces an older one, which a returning socket has already ended (a user has a
   * grace period only while they have no socket).
   */
  const settling = new Map<string, NodeJS.Timeout>();

  /*
   * Presence sends. Each announcement is one transition of the user in the presence
   * store (first socket: online; grace period over with no socket back: offline), which
   * the store answers atomically and once, so for a user online and offline alternate
   * exactly: no process announces the same state twice in a row, and a flip that a
   * returning socket undoes within the grace period (a reload, a flaky network, a
   * reconnect to another process) is never sent at all.
   *
   * A reconnect storm (a deploy restarts every process; N users, all connected, whose
   * clients reconnect within seconds): each stopping process turns its users' last
   * sockets into grace periods and hands them to the sweep (`drain`); each reconnecting
   * socket ends its user's grace period and is answered "more", announcing nothing; the
   * sweep then finds those grace periods gone. Presence sends: 0 for every user back
   * within the grace period, and one offline announcement (× the connected sockets) per
   * user who did not come back, instead of 2N announcements to every socket (≈2N²
   * sends). A single reload is the same on a smaller scale: nothing is sent.
   */

  /**
   * A socket of the user is gone. Their last socket anywhere starts their grace period
   * (without one, with PRESENCE_GRACE_MS=0, they go offline at once).
   */
  async function leave(userId: string, socketId: string, known?: AnnouncedUser): Promise<void> {
    const left = await presence.disconnect(userId, socketId, { grace: graceMs > 0 });
    if (left === 'grace') settleLater(userId, socketId);
    else if (left === 'offline') await announceOffline(userId, known);
  }

  /**
   * When the grace period ends, this process (the one the last socket left) settles it:
   * offline is announced then, unless a socket of the user came back meanwhile, on any
   * process (then the settle finds nothing, and nothing at all was announced).
   */
  function settleLater(userId: string, socketId: string) {
    clearTimeout(settling.get(userId));
    const timer = setTimeout(() => {
      settling.delete(userId);
      void track(settle(userId, socketId));
    }, graceMs);
    timer.unref();
    settling.set(userId, timer);
  }

  async function settle(userId: string, socketId?: string) {
    try {
      if (await presence.settle(userId, socketId)) await announceOffline(userId);
    } catch (err) {
      presenceFailed('presence settle failed')(err); // the resync settles it
    }
  }

  /**
   * At CONNECT: records the socket in presence, which is also where the sockets
   * of a user are counted across processes; one beyond MAX_SOCKETS_PER_USER is
   * refused (counting and recording are one atomic step, so racing connects
   * cannot exceed it).
   */
  async function admit(socket: AppSocket): Promise<Undo> {
    // Who it is: the live session admitted it; its user must exist and its login be current (a password change ends it).
    const session = live.session(socket);
    const stored = session?.passport?.user ? await stores.users.findById(session.passport.user) : null;
    if (!session || !stored || !credentialsCurrent(session, stored)) throw new HandshakeRefusal('unauthorized');
    const user = publicUser(stored);
    socket.data.user = user;
    socket.data.inFlight = 0;
    let answer;
    try {
      answer = await track(presence.connect(user.id, socket.id, deps.config.maxSocketsPerUser));
    } catch (err) {
      presenceDirty = true; // it may have been recorded after all: the next heartbeat puts it right
      throw err;
    }
    if (answer === 'full') throw new HandshakeRefusal('too_many_connections');
    const first = answer === 'first';
    if (first) firstSockets.add(socket);
    const undo = () => void track(unadmit(user, socket.id, first).catch(() => (presenceDirty = true)));
    try {
      // The user's own room, for DMs and removals; held, so that nothing sent to it once the socket is in can miss it.
      await joinHeld(socket, socketRooms.user(user.id));
    } catch (err) {
      undo();
      throw err;
    }
    return undo;
  }

  /**
   * Forgets a socket that was admitted but never connected. When its admission made the
   * user online, nobody was told: alone, it goes as silently; if sockets of the user were
   * admitted after it (answered "more", so unannounced), the user is announced online now.
   * Otherwise it leaves as any socket does.
   */
  async function unadmit(user: AnnouncedUser, socketId: string, first: boolean) {
    if (!first) return leave(user.id, socketId, user);
    if ((await presence.disconnect(user.id, socketId)) === 'none') announce(user, true);
  }

  /** Presence per user across tabs and processes: only the first socket and the end of the last one's grace period are announced. */
  function onConnect(socket: AppSocket) {
    const user = socket.data.user;
    views?.send(socket);
    local.set(socket.id, socket);
    if (firstSockets.has(socket)) announce(user, true);
    socket.on('disconnect', () => {
      local.delete(socket.id);
      void track(leave(user.id, socket.id, socket.data.user).catch(presenceFailed('presence disconnect failed', user.username)));
    });
  }

  /** Catches rooms up after a Redis blip; only where broadcasts cross processes (see recovery.ts). */
  let recovery: Recovery | undefined;

  /** The `session` event of each socket, kept current. */
  let views: ReturnType<typeof keepSessionViews> | undefined;

  /** Wires the server in, and starts the presence timers (heartbeat, sweep of dead processes). */
  function attach(server: AppServer) {
    io = server;
    views = keepSessionViews({ io: server, live, users: stores.users, log });
    const adapter = server.of('/').adapter;
    if (adapter instanceof ClusterAdapter) {
      deliverLocallyFirst(adapter);
      if (stores.subscriptions) {
        recovery = createRecovery({ io: server, chat, subscriptions: stores.subscriptions, log });
        recovery.watch(adapter);
      }
    }
    if (!sweeps(presence)) return;
    const beat = async () => {
      try {
        await presence.heartbeat();
        if (presenceDirty) {
          presenceDirty = false;
          await resyncPresence(presence);
        }
      } catch (err) {
        if (!presenceDirty) log.warn({ err: String(err) }, 'presence heartbeat or resync failed');
        presenceDirty = true;
      }
    };
    void beat();
    const sweep = async () => {
      try {
        for (const userId of await presence.sweep()) await announceOffline(userId);
      } catch (err) {
        log.warn({ err: String(err) }, 'presence sweep failed');
      }
    };
    timers.push(setInterval(beat, PRESENCE_HEARTBEAT_MS), setInterval(sweep, PRESENCE_SWEEP_EVERY_MS));
    for (const t of timers) t.unref();
  }

  /**
   * After Redis was away, connects, disconnects and settles may not have been recorded:
   * make this process's entries match its sockets, announcing what changed. A socket
   * that left meanwhile leaves now (into its user's grace period, as any); a grace period
   * this process no longer has a timer for (its settle failed) is over, and settled now.
   */
  async function resyncPresence(p: SweepingPresence & typeof presence) {
    const recorded = await p.mine();
    const recordedIds = new Set(recorded.sockets.map(([, socketId]) => socketId));
    for (const [userId, socketId] of recorded.sockets) {
      if (!local.has(socketId)) await leave(userId, socketId);
    }
    for (const userId of recorded.graces) {
      if (!settling.has(userId)) await settle(userId);
    }
    for (const [socketId, socket] of local) {
      if (!recordedIds.has(socketId) && (await p.connect(socket.data.user.id, socketId)) === 'first') announce(socket.data.user, true);
    }
    log.info({ sockets: local.size }, 'presence resynced');
  }

  function stop() {
    for (const t of timers) clearInterval(t);
  }

  /**
   * Resolves when the presence writes of closed sockets are done. The grace periods that
   * closing them started are not settled here: their users' clients are reconnecting,
   * most to another process, and announcing them offline now would be the very flicker
   * (and, in a deploy, the N² sends) the grace period exists to avoid. With Redis they
   * are handed to the sweep of the other processes instead: this process counts as dead
   * once its last grace period would have ended, and the next sweep (within 10 s) settles
   * whatever nobody came back for. In memory there is no other process, and nobody left
   * to tell: the timers are just dropped along with the store.
   */
  async function drain() {
    while (pending.size) await Promise.allSettled([...pending]);
    for (const t of settling.values()) clearTimeout(t);
    settling.clear();
    if (sweeps(presence)) await presence.handOver(graceMs).catch((err: unknown) => log.warn({ err: String(err) }, 'presence hand-over failed'));
  }

  return { handlers, admit, onConnect, attach, stop, drain, findUserByUsername };
}

export type ChatRealtime = ReturnType<typeof createChatRealtime>;
