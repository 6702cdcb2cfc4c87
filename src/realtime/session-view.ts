import type { LiveSession } from 'socket.io-live-session';
import { publicUser } from '../chat/users.js';
import type { Logger } from '../logger.js';
import { credentialsCurrent, isUserChanged } from '../session/types.js';
import type { UserStore } from '../chat/ports.js';
import type { AppServer, AppSocket, SessionView } from './events.js';
import { socketRooms } from './rooms.js';

/** The chat's `session` event for a socket: who it is, its prefs and last room, when it expires; null once ended. */
function sessionView(live: LiveSession, socket: AppSocket): SessionView | null {
  const session = live.session(socket);
  const expiresAt = live.expiresAt(socket);
  if (!session || !expiresAt) return null;
  return { user: socket.data.user, prefs: session.prefs ?? {}, lastRoomId: session.lastRoomId ?? null, expiresAt: expiresAt.toISOString() };
}

/**
 * Keeps every socket told about its session: `session` after every change the
 * live session sees (from HTTP, a socket, another process), and when the user's
 * record changes (the chat's own message on the bus): a new display name reaches
 * every socket of the user; a password change ends each session here that logged
 * in with the old password (`revoked`), in case its revocation was missed.
 */
export function keepSessionViews(deps: { io: AppServer; live: LiveSession; users: UserStore; log: Logger }) {
  const { io, live, users, log } = deps;
  const send = (socket: AppSocket) => {
    const view = sessionView(live, socket);
    if (view) socket.emit('session', view);
  };

  /** This process's sockets of a user (through the user's own Socket.IO room). */
  function socketsOf(uid: string): AppSocket[] {
    const nsp = io.of('/');
    return [...(nsp.adapter.rooms.get(socketRooms.user(uid)) ?? [])].flatMap((id) => nsp.sockets.get(id) ?? []);
  }

  async function refreshUser(uid: string) {
    const sockets = socketsOf(uid);
    if (sockets.length === 0) return;
    try {
      const user = await users.findById(uid);
      const stale = new Set<string>();
      for (const socket of sockets) {
        const session = live.session(socket);
        if (!session) continue;
        if (!user || !credentialsCurrent(session, user)) stale.add(live.handle(socket)!);
        else {
          socket.data.user = publicUser(user);
          send(socket);
        }
      }
      for (const handle of stale) await live.revoke(uid, handle);
    } catch (err) {
      log.warn({ err: String(err) }, 'refreshing a user\'s sockets failed');
    }
  }

  // Its data changed, or only its deadline (`expiresAt` is part of the view).
  live.on('change', (socket) => send(socket as AppSocket));
  live.on('extend', (socket) => send(socket as AppSocket));
  live.bus.subscribe((m) => {
    if (isUserChanged(m)) void refreshUser(m.uid);
  });
  // After the bus was cut off, user changes may have been missed too.
  live.bus.onResync(() => {
    for (const room of io.of('/').adapter.rooms.keys()) if (socketRooms.isUser(room)) void refreshUser(socketRooms.userId(room));
  });

  return { send };
}
