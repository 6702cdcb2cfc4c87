/**
 * The real app, started as src/server.ts starts it (loadConfig, then src/start.ts:
 * stores, app, listen, SIGTERM → close), but with the App object in reach so that a
 * benchmark can count what it holds (sockets, live sessions, rooms, listeners)
 * through bench/heap-probe.ts. Nothing in src/ is changed.
 *
 * With BENCH_WHOAMI=1 it adds ONE bench-only event, `bench:whoami {v}`, whose
 * handler reads the session three ways (v = "live" | "reload" | "none"):
 *   live   → live.session(socket) (socket.io-live-session's live view)
 *   reload → a store read per event (the "reload
 *            the session in every handler" pattern of Socket.IO's express-session how-to)
 *   none   → no session read at all (the ceiling)
 */
import type { Socket } from 'socket.io';
import { loadConfig } from '../src/config.js';
import { start, stopOnSignals } from '../src/start.js';
import { listenerTotal, setBenchStats } from './lib/probe-protocol.js';

type Ack = (r: unknown) => void;
type Emitter = NodeJS.EventEmitter;

// Listening from here on, its readiness line written as src/server.ts writes it. start()
// resolves in the same turn as the listen, so the hooks below are in place before any
// connection is handled.
const server = await start(loadConfig());
const { app, stores } = server;
stopOnSignals(server);

if (process.env.BENCH_WHOAMI === '1') {
  app.io.on('connection', (typed) => {
    const socket = typed as unknown as Socket;
    // The project's catch-all acks unknown events with bad_request before any
    // listener of ours would run: hide the bench event from it.
    const others = socket.listenersAny();
    socket.offAny();
    for (const listener of others) socket.onAny((event: string, ...args: unknown[]) => event !== 'bench:whoami' && listener(event, ...args));

    // The session id of this socket's handshake cookie (`sid=s:<id>.<signature>`), for the store read of "reload".
    const sid = /(?:^|;\s*)sid=s%3A([^.;]+)\./.exec(socket.handshake.headers.cookie ?? '')?.[1];
    socket.on('bench:whoami', (payload: unknown, ack: Ack) => {
      if (typeof ack !== 'function') return;
      const session = app.live.session(socket);
      if (!session) return ack({ ok: false, error: { code: 'unauthorized', message: 'session ended' } });
      const user = typed.data.user;
      const v = (payload as { v?: unknown } | null)?.v;
      if (v === 'live') return ack({ ok: true, user: user.username, theme: session.prefs?.theme ?? null });
      if (v === 'reload') {
        // What Socket.IO's how-to does on every event (session.reload): a store read.
        stores.sessionBase.get(sid ?? '', (err, record) =>
          ack(
            err
              ? { ok: false, error: { code: 'internal', message: 'store failed' } }
              : record && record.passport?.user === user.id
                ? { ok: true, user: user.username, theme: record.prefs?.theme ?? null }
                : { ok: false, error: { code: 'unauthorized', message: 'session ended' } },
          ),
        );
        return;
      }
      return ack({ ok: true, user: '', theme: null });
    });
  });
}

const redis = stores as unknown as { client?: Emitter; subscriber?: Emitter };
setBenchStats(() => {
  const nsp = app.io.of('/');
  return {
    engineClients: app.io.engine.clientsCount,
    sockets: nsp.sockets.size,
    liveSessions: app.live.size,
    adapterRooms: nsp.adapter.rooms.size,
    adapterSids: nsp.adapter.sids.size,
    httpServerListeners: listenerTotal(app.httpServer),
    engineListeners: listenerTotal(app.io.engine as unknown as Emitter),
    namespaceListeners: listenerTotal(nsp as unknown as Emitter),
    redisClientListeners: listenerTotal(redis.client),
    redisSubscriberListeners: listenerTotal(redis.subscriber),
  };
});
