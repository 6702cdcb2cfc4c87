/**
 * The real app, started the way src/server.ts starts it (loadConfig, createStores,
 * createApp, listen, SIGTERM → close), but with the App object in reach so that a
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
import type { AddressInfo } from 'node:net';
import type { Socket } from 'socket.io';
import { createApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { createStores } from '../src/store/index.js';
import { listenerTotal, setBenchStats } from './lib/probe-protocol.js';

type Ack = (r: unknown) => void;
type Emitter = NodeJS.EventEmitter;

const config = loadConfig();
const log = createLogger(config.logLevel);
const stores = await createStores(config, log);
const app = createApp(config, { stores, log });

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

await new Promise<void>((resolve, reject) => {
  app.httpServer.once('error', reject);
  app.httpServer.listen(config.port, config.host, resolve);
});
const { port } = app.httpServer.address() as AddressInfo;
// Same line as src/server.ts, on stdout whatever LOG_LEVEL says.
console.log(`bench app listening on http://${config.host}:${port}`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  setTimeout(() => process.exit(1), 9_000).unref();
  try {
    await app.close();
    await stores.close();
    process.exit(0);
  } catch {
    process.exit(1);
  }
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
