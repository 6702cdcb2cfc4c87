import { ClusterAdapter } from 'socket.io-adapter';
import type { LiveSession } from 'socket.io-live-session';
import type { ChatStore, PresenceStore, UserStore } from '../chat/ports.js';
import type { User } from '../chat/types.js';
import { publicUser, publicUserFinder } from '../chat/users.js';
import type { Logger } from '../logger.js';
import type { RateLimits } from '../security/limits.js';
import { credentialsCurrent, type ChatSession } from '../session/types.js';
import type { AppServer, AppSocket } from './events.js';
import type { ChatServices } from './handler.js';
import { handlers } from './handlers/index.js';
import { HandshakeRefusal, type Undo } from './io.js';
import { deliverLocallyFirst, encodeOnlyForRecipients } from './local-first.js';
import type { ConnectionHealth, PresenceUpkeep, Release, RoomChannels, RoomLapses, RoomPeers } from './ports.js';
import { knownUsers } from './known-users.js';
import { createPresence, type Unadmit } from './presence.js';
import { createRecovery, type Recovery } from './recovery.js';
import { socketRooms } from './rooms.js';
import { keepSessionViews } from './session-view.js';

export interface ChatRealtimeDeps {
  users: UserStore;
  chat: ChatStore;
  presence: PresenceStore;
  presenceUpkeep: PresenceUpkeep | undefined;
  roomChannels: RoomChannels;
  /** Which rooms have sockets on other processes (where broadcasts cross processes). */
  roomPeers: RoomPeers | undefined;
  /** The subscriber connection's health, where broadcasts cross processes (see recovery.ts). */
  subscriptions: ConnectionHealth | undefined;
  /** Rooms to catch up because this process's registration as their server lapsed. */
  roomLapses?: RoomLapses | undefined;
  live: LiveSession;
  limits: RateLimits;
  /** PRESENCE_GRACE_MS and MAX_SOCKETS_PER_USER. */
  presenceGraceMs: number;
  maxSocketsPerUser: number;
  log: Logger;
}

/**
 * The chat over Socket.IO, wired: the services every event handler uses
 * (handlers/, one file per event), the admission of each socket (its user,
 * presence, its user room), the `session` event of each socket, and the
 * catch-up of rooms after a Redis blip.
 */
export function createChatRealtime(deps: ChatRealtimeDeps) {
  const { live, log } = deps;
  const findUser = publicUserFinder(deps.users);
  /** The records of users with a socket here: their next socket's CONNECT reads none. */
  const known = knownUsers(deps.users, live.bus);
  const presence = createPresence({
    presence: deps.presence,
    upkeep: deps.presenceUpkeep,
    findUser,
    graceMs: deps.presenceGraceMs,
    maxSocketsPerUser: deps.maxSocketsPerUser,
    log,
  });
  /** Catches rooms up after a Redis blip; only where broadcasts cross processes (see recovery.ts). */
  let recovery: Recovery | undefined;
  /** The `session` event of each socket, kept current. */
  let views: ReturnType<typeof keepSessionViews> | undefined;

  /** `held`: a hold of the room's channel asked for already (see admit); by default one is asked for now. */
  async function joinHeld(socket: AppSocket, room: string, held: Promise<Release> = deps.roomChannels.hold(room)) {
    const release = await held;
    try {
      await socket.join(room);
    } finally {
      release();
    }
  }

  const services: ChatServices = {
    chat: deps.chat,
    presence: deps.presence,
    findUser,
    limits: deps.limits,
    live,
    joinHeld,
    caughtUp: (room, conversation, lastId) => recovery?.joined(room, conversation, lastId),
  };

  /**
   * Joins a user's own room. Its channel is held around the join (joinHeld), unless a
   * socket of the user here is in the room already: then the channel has been subscribed
   * since that socket joined, and stays so while the room has a socket here. The check and
   * the join are one synchronous step, so the room cannot empty (and the adapter
   * unsubscribe) in between. `held`: a hold of the channel already asked for.
   */
  async function joinUserRoom(socket: AppSocket, room: string, held: Promise<Release> | undefined) {
    if (!held && socket.nsp.adapter.rooms.get(room)?.size) return void (await socket.join(room));
    await joinHeld(socket, room, held);
  }

  /** Whether another socket than this one is in the room here (the user's own room: another socket of the user). */
  function othersIn(socket: AppSocket, room: string) {
    const members = socket.nsp.adapter.rooms.get(room);
    return !!members && members.size > (members.has(socket.id) ? 1 : 0);
  }

  /** What undoes an admission, should the socket never connect: its presence record, and the user's kept record once no socket of theirs is here. */
  function undoAdmission(socket: AppSocket, userId: string, room: string, recorded: Unadmit, user: User): Undo {
    return () => {
      recorded(user);
      if (!othersIn(socket, room)) known.forget(userId);
    };
  }

  /**
   * At CONNECT, once the live session admitted the socket: its user must exist and its
   * login be current (a password change ends it); presence records it (or refuses one
   * socket too many); it joins its user's own room, for DMs and removals (held, so that
   * nothing sent to it once the socket is in can miss it). Answers at once when nothing
   * needs waiting for (admitHere), else a promise (admitReading); throws or rejects with
   * a HandshakeRefusal.
   */
  function admit(socket: AppSocket): Undo | Promise<Undo> {
    const session = live.session(socket);
    const userId = session?.passport?.user;
    if (!session || !userId) throw new HandshakeRefusal('unauthorized');
    const room = socketRooms.user(userId);
    const here = othersIn(socket, room);
    return (here && admitHere(socket, session, userId, room)) || admitReading(socket, session, userId, room, here);
  }

  /**
   * The admission of a socket whose user has another here (another tab, a reconnect), in
   * the tick its CONNECT arrived when nothing needs waiting for: the user's record is the
   * one kept since that socket's admission (known-users.ts), presence spends a slot this
   * process leased already (PresenceStore.connectNow), and the user room's channel is
   * subscribed while that socket is in the room (joinUserRoom). No Redis, no promise.
   * Undefined, with nothing recorded, when one of them would have to wait (no record kept,
   * no spare slot) or the kept record refuses the login: admitReading then does it all,
   * refusals included.
   */
  function admitHere(socket: AppSocket, session: ChatSession, userId: string, room: string): Undo | Promise<Undo> | undefined {
    const stored = known.kept(userId);
    if (!stored || !credentialsCurrent(session, stored)) return undefined;
    const user = publicUser(stored);
    socket.data.user = user; // named in the audit line of a refusal (too_many_connections) too
    const recorded = presence.admitNow(socket, userId);
    if (!recorded) return undefined;
    socket.data.inFlight = 0;
    const undo = undoAdmission(socket, userId, room, recorded, user);
    let joining;
    try {
      joining = socket.join(room); // Socket.IO's adapters join at once; another may answer a promise
    } catch (err) {
      undo();
      throw err;
    }
    if (!joining) return undo;
    return joining.then(
      () => undo,
      (err: unknown) => {
        undo();
        throw err;
      },
    );
  }

  /**
   * The admission that reads. The user read and the presence record need only the user
   * id, which the session gives: they run together (one round trip on one connection),
   * and so does the hold of the user room's channel when no socket of the user here is in
   * it yet (`here`: one is, and then neither needs Redis as a rule; see admitHere). A
   * socket refused after all (the user gone, its login stale, Redis failing) has its
   * presence record undone, which announces nothing for it, and its hold released.
   */
  async function admitReading(socket: AppSocket, session: ChatSession, userId: string, room: string, here: boolean): Promise<Undo> {
    const held = here ? undefined : deps.roomChannels.hold(room);
    held?.catch(() => undefined); // awaited below, or released; never an unhandled rejection meanwhile
    const [read, recorded] = await Promise.allSettled([known.find(userId, here), presence.admit(socket, userId)]);
    const stored = read.status === 'fulfilled' ? read.value : null;
    const user = stored && credentialsCurrent(session, stored) ? publicUser(stored) : undefined;
    if (user) socket.data.user = user; // named in the audit line of a refusal (too_many_connections) too
    if (read.status === 'rejected' || !user || recorded.status === 'rejected') {
      if (recorded.status === 'fulfilled') recorded.value(user ?? (stored ? publicUser(stored) : undefined));
      held?.then((release) => release(), () => undefined);
      if (!othersIn(socket, room)) known.forget(userId);
      if (read.status === 'rejected') throw read.reason;
      if (!user) throw new HandshakeRefusal('unauthorized');
      throw (recorded as PromiseRejectedResult).reason;
    }
    socket.data.inFlight = 0;
    const undo = undoAdmission(socket, userId, room, recorded.value, user);
    try {
      await joinUserRoom(socket, room, held);
    } catch (err) {
      undo();
      throw err;
    }
    return undo;
  }

  /**
   * A socket's `disconnect` (Socket.IO calls it with the socket as `this`; one function
   * for every socket, not a closure each). Its rooms are left before `disconnect`: the
   * last socket of the user here forgets their record.
   */
  function forgetIfLast(this: AppSocket) {
    const userId = this.data.user.id;
    if (!othersIn(this, socketRooms.user(userId))) known.forget(userId);
  }

  function onConnect(socket: AppSocket) {
    views?.send(socket);
    presence.connected(socket);
    socket.on('disconnect', forgetIfLast);
  }

  /** Wires the server in, and starts what runs on its own (presence upkeep, catch-up). */
  function attach(server: AppServer) {
    views = keepSessionViews({ io: server, live, users: deps.users, log });
    const adapter = server.of('/').adapter;
    if (adapter instanceof ClusterAdapter) {
      deliverLocallyFirst(adapter, deps.roomPeers);
      if (deps.subscriptions) {
        recovery = createRecovery({ io: server, chat: deps.chat, subscriptions: deps.subscriptions, log });
        recovery.watch(adapter);
        deps.roomLapses?.onLapse((room) => void recovery?.missed(room));
      }
    } else {
      encodeOnlyForRecipients(adapter);
    }
    presence.attach(server);
  }

  return { handlers, services, admit, onConnect, attach, stop: presence.stop, drain: presence.drain };
}
