import type { PresenceConnect, PresenceStore } from '../chat/ports.js';
import type { User } from '../chat/types.js';
import { publicUser, type PublicUserFinder } from '../chat/users.js';
import type { Logger } from '../logger.js';
import { PRESENCE_HEARTBEAT_MS, PRESENCE_SWEEP_EVERY_MS } from '../timings.js';
import type { AppServer, AppSocket } from './events.js';
import { HandshakeRefusal } from './io.js';
import type { PresenceUpkeep } from './ports.js';

export interface PresenceDeps {
  presence: PresenceStore;
  /** Heartbeat, sweep and resync across processes; none with one process (memory). */
  upkeep: PresenceUpkeep | undefined;
  findUser: PublicUserFinder;
  /** PRESENCE_GRACE_MS: how long a user with no socket left stays online. */
  graceMs: number;
  /** MAX_SOCKETS_PER_USER, across every process. */
  maxSocketsPerUser: number;
  log: Logger;
}

/** Undoes the presence record of a socket that never connects; given its user when known (an undo may announce them). */
export type Unadmit = (user: User | undefined) => void;

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
 * Presence per user across tabs and processes: records each socket (counting them
 * against the per-user cap), announces only the first socket and the end of the last
 * one's grace period, and keeps this process's entries right (heartbeat, sweep of
 * dead processes, resync after an outage) when there is upkeep to do.
 */
export function createPresence(deps: PresenceDeps) {
  const { presence, upkeep, findUser, graceMs, log } = deps;
  let io: AppServer | undefined;
  const timers: NodeJS.Timeout[] = [];

  const announce = (user: User, online: boolean) => io?.emit('presence', { user: publicUser(user), online });
  /** Announces a user offline; `known` saves the lookup when the caller has the user at hand. */
  const announceOffline = async (userId: string, known?: User) => {
    const user = known ?? (await findUser.byId(userId));
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

  /** Set when a presence write failed: the next good heartbeat resyncs this process's entries. */
  let dirty = false;
  const failed = (what: string, username?: string) => (err: unknown) => {
    dirty = true;
    log.error({ err: String(err), user: username }, what);
  };

  /** Admitted sockets that are their user's first anywhere: announced online once connected. */
  const firstSockets = new WeakSet<AppSocket>();

  /**
   * The grace periods this process is to settle: userId → timer. One per user: a newer
   * one replaces an older one, which a returning socket has already ended (a user has a
   * grace period only while they have no socket).
   */
  const settling = new Map<string, NodeJS.Timeout>();

  /**
   * A socket of the user is gone. Their last socket anywhere starts their grace period
   * (without one, with PRESENCE_GRACE_MS=0, they go offline at once).
   */
  async function leave(userId: string, socketId: string, known?: User): Promise<void> {
    const left = await presence.disconnect(userId, socketId, { grace: graceMs > 0 });
    if (left === 'grace') settleLater(userId, socketId);
    else if (left === 'offline') await announceOffline(userId, known);
  }

  /** A socket's `disconnect` (Socket.IO calls it with the socket as `this`; one function for every socket, not a closure each). */
  function left(this: AppSocket) {
    const user = this.data.user;
    void track(leave(user.id, this.id, user).catch(failed('presence disconnect failed', user.username)));
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
      failed('presence settle failed')(err); // the resync settles it
    }
  }

  /**
   * Forgets a socket that was admitted but never connected. When its admission made the
   * user online, nobody was told: alone, it goes as silently; if sockets of the user were
   * admitted after it (answered "more", so unannounced), the user is announced online now.
   * Otherwise it leaves as any socket does.
   */
  async function unadmit(userId: string, known: User | undefined, socketId: string, first: boolean) {
    if (!first) return leave(userId, socketId, known);
    if ((await presence.disconnect(userId, socketId)) !== 'none') return;
    const user = known ?? (await findUser.byId(userId));
    if (user) announce(user, true);
  }

  /** What the store answered an admission: a refusal, or what undoes it (see `admit`). */
  function admitted(socket: AppSocket, userId: string, answer: PresenceConnect): Unadmit {
    if (answer === 'full') throw new HandshakeRefusal('too_many_connections');
    const first = answer === 'first';
    if (first) firstSockets.add(socket);
    return (user) => void track(unadmit(userId, user, socket.id, first).catch(() => (dirty = true)));
  }

  /**
   * After Redis was away, connects, disconnects and settles may not have been recorded:
   * the store makes this process's entries match its sockets (as it counts them), and
   * what changed is announced. A user recorded here with no socket left leaves now (into
   * their grace period, as any); a grace period this process no longer has a timer for
   * (its settle failed) is over, and settled now; a user whom Redis had lost is online again.
   */
  async function resync(kept: PresenceUpkeep) {
    const changed = await kept.resync(graceMs > 0);
    for (const { userId, answer } of changed.left) {
      if (answer === 'grace') settleLater(userId, '');
      else if (answer === 'offline') await announceOffline(userId);
    }
    for (const userId of changed.graces) {
      if (!settling.has(userId)) await settle(userId);
    }
    for (const userId of changed.online) {
      const user = await findUser.byId(userId);
      if (user) announce(user, true);
    }
    log.info({ online: changed.online.length, left: changed.left.length }, 'presence resynced');
  }

  function startUpkeep(kept: PresenceUpkeep) {
    const beat = async () => {
      try {
        if (!(await kept.heartbeat()) && !dirty) {
          log.warn('presence records of this process were gone from Redis (swept as dead after a stall, or Redis lost its data): resyncing');
          dirty = true;
        }
        if (dirty) {
          dirty = false;
          await resync(kept);
        }
      } catch (err) {
        if (!dirty) log.warn({ err: String(err) }, 'presence heartbeat or resync failed');
        dirty = true;
      }
    };
    void beat();
    const sweep = async () => {
      try {
        for (const userId of await kept.sweep()) await announceOffline(userId);
      } catch (err) {
        log.warn({ err: String(err) }, 'presence sweep failed');
      }
    };
    timers.push(setInterval(beat, PRESENCE_HEARTBEAT_MS), setInterval(sweep, PRESENCE_SWEEP_EVERY_MS));
    for (const t of timers) t.unref();
  }

  return {
    /**
     * At CONNECT: records the socket, which is also where the sockets of a user are
     * counted across processes; one beyond MAX_SOCKETS_PER_USER is refused (counting
     * and recording are one atomic step, so racing connects cannot exceed it). Needs
     * only the user id (the session's), so it can run alongside the read of the user.
     * Resolves to what undoes it, should the socket never connect: given the user when
     * it is known (an undo may announce them), looked up only if it must announce.
     */
    async admit(socket: AppSocket, userId: string): Promise<Unadmit> {
      let answer;
      try {
        answer = await track(presence.connect(userId, socket.id, deps.maxSocketsPerUser));
      } catch (err) {
        dirty = true; // it may have been recorded after all: the next heartbeat puts it right
        throw err;
      }
      return admitted(socket, userId, answer);
    },

    /**
     * `admit`, answered at once when the store needs nothing asked (PresenceStore.connectNow:
     * a slot this process leased for the user already). Undefined, with nothing recorded,
     * when it would have to wait: call `admit`.
     */
    admitNow(socket: AppSocket, userId: string): Unadmit | undefined {
      const answer = presence.connectNow(userId, socket.id, deps.maxSocketsPerUser);
      return answer === undefined ? undefined : admitted(socket, userId, answer);
    },

    /** An admitted socket is connected: announced if it is its user's first, and forgotten when it goes. */
    connected(socket: AppSocket) {
      if (firstSockets.has(socket)) announce(socket.data.user, true);
      socket.on('disconnect', left);
    },

    /** Wires the server in (announcements go to it) and starts the upkeep, if any. */
    attach(server: AppServer) {
      io = server;
      if (upkeep) startUpkeep(upkeep);
    },

    stop() {
      for (const t of timers) clearInterval(t);
    },

    /**
     * Resolves when the presence writes of closed sockets are done. The grace periods that
     * closing them started are not settled here: their users' clients are reconnecting,
     * most to another process, and announcing them offline now would be the very flicker
     * (and, in a deploy, the N² sends) the grace period exists to avoid. With upkeep they
     * are handed to the sweep of the other processes instead: this process counts as dead
     * once its last grace period would have ended, and the next sweep settles whatever
     * nobody came back for. Without (one process, in memory) there is nobody left to
     * tell: the timers are just dropped along with the store.
     */
    async drain() {
      while (pending.size) await Promise.allSettled([...pending]);
      for (const t of settling.values()) clearTimeout(t);
      settling.clear();
      if (upkeep) await upkeep.handOver(graceMs).catch((err: unknown) => log.warn({ err: String(err) }, 'presence hand-over failed'));
    },
  };
}

export type Presence = ReturnType<typeof createPresence>;
