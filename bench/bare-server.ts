/**
 * The baseline: a bare Socket.IO server with the project's chat events and the
 * same wire shapes, but no auth, no session, no validation library, no storage,
 * and the in-memory adapter. Every event acks like the project's.
 *
 *   PORT=0 node --import tsx bench/bare-server.ts   → prints `listening on http://127.0.0.1:PORT`
 *
 * With BARE_REDIS_URL, several of them act as one server the way Socket.IO's own
 * documentation sets it up: @socket.io/redis-adapter's sharded adapter (a channel
 * per room, subscribed while the room has sockets here: the project's own mode) on
 * node-redis, channels prefixed with BARE_CHANNEL_PREFIX. The baseline for the
 * project's cross-process path.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createShardedAdapter } from '@socket.io/redis-adapter';
import { createClient } from 'redis';
import { Server, type Socket } from 'socket.io';
import { listenerTotal, setBenchStats } from './lib/probe-protocol.js';

interface User {
  id: string;
  username: string;
  displayName: string;
}
type Ack = (result: unknown) => void;

const port = Number(process.env.PORT ?? 0);
const host = process.env.HOST ?? '127.0.0.1';

const httpServer = createServer((_req, res) => {
  res.writeHead(404).end();
});
const io = new Server(httpServer, {
  serveClient: false,
  perMessageDeflate: false,
  maxHttpBufferSize: 64 * 1024,
});

const redisUrl = process.env.BARE_REDIS_URL;
const redisClients = redisUrl ? [createClient({ url: redisUrl }), createClient({ url: redisUrl })] : [];
if (redisClients.length) {
  const [pub, sub] = redisClients as [ReturnType<typeof createClient>, ReturnType<typeof createClient>];
  for (const c of redisClients) c.on('error', (err: Error) => console.error(`bare socket.io: redis: ${err.message}`));
  await Promise.all(redisClients.map((c) => c.connect()));
  io.adapter(createShardedAdapter(pub, sub, { channelPrefix: process.env.BARE_CHANNEL_PREFIX ?? 'socket.io', subscriptionMode: 'dynamic' }));
}

let userSeq = 0;
let messageSeq = 0;
const isRoomId = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 32;
const payloadOf = (p: unknown) => (p && typeof p === 'object' ? (p as Record<string, unknown>) : {});
const ackOf = (a: unknown): Ack => (typeof a === 'function' ? (a as Ack) : () => undefined);
const bad = (ack: Ack) => ack({ ok: false, error: { code: 'bad_request', message: 'invalid payload' } });
const room = (id: string) => `room:${id}`;

io.on('connection', (socket: Socket) => {
  const n = ++userSeq;
  const user: User = { id: `u${n}`, username: `anon${n}`, displayName: `anon${n}` };
  void socket.join(`user:${user.id}`);
  socket.emit('session', { user, prefs: {}, lastRoomId: null, expiresAt: new Date(Date.now() + 86_400_000).toISOString() });

  socket.on('room:join', (payload: unknown, a: unknown) => {
    const ack = ackOf(a);
    const { roomId } = payloadOf(payload);
    if (!isRoomId(roomId)) return bad(ack);
    void socket.join(room(roomId));
    ack({ ok: true, room: { id: roomId, name: roomId, private: false, owner: null }, history: [] });
  });

  socket.on('room:leave', (payload: unknown, a: unknown) => {
    const ack = ackOf(a);
    const { roomId } = payloadOf(payload);
    if (!isRoomId(roomId)) return bad(ack);
    void socket.leave(room(roomId));
    ack({ ok: true });
  });

  socket.on('message:send', (payload: unknown, a: unknown) => {
    const ack = ackOf(a);
    const { roomId, text, clientMsgId } = payloadOf(payload);
    if (!isRoomId(roomId) || typeof text !== 'string' || !text.trim()) return bad(ack);
    if (!socket.rooms.has(room(roomId))) return ack({ ok: false, error: { code: 'forbidden', message: 'join first' } });
    const ts = Date.now();
    const message: Record<string, unknown> = { id: `${ts}-${messageSeq++}`, roomId, user, text, ts: new Date(ts).toISOString() };
    if (typeof clientMsgId === 'string') message.clientMsgId = clientMsgId;
    // As in the project: every socket in the room, the sender's included.
    io.to(room(roomId)).emit('message:new', message);
    ack({ ok: true, message });
  });

  socket.on('typing', (payload: unknown, a: unknown) => {
    const ack = ackOf(a);
    const { roomId, typing } = payloadOf(payload);
    if (!isRoomId(roomId) || typeof typing !== 'boolean') return bad(ack);
    if (!socket.rooms.has(room(roomId))) return ack({ ok: false, error: { code: 'forbidden', message: 'join first' } });
    socket.to(room(roomId)).emit('typing', { roomId, user, typing });
    ack({ ok: true });
  });

  socket.on('presence:list', (_payload: unknown, a: unknown) => {
    ackOf(a)({ ok: true, online: [] });
  });
});

setBenchStats(() => ({
  engineClients: io.engine.clientsCount,
  sockets: io.of('/').sockets.size,
  adapterRooms: io.of('/').adapter.rooms.size,
  httpServerListeners: listenerTotal(httpServer),
  engineListeners: listenerTotal(io.engine as unknown as NodeJS.EventEmitter),
}));

// The same accept backlog as src/server.ts: a reconnect storm must not be refused by the kernel here only.
httpServer.listen({ port, host, backlog: 4096 }, () => {
  const { port: actual } = httpServer.address() as AddressInfo;
  console.log(`bare socket.io listening on http://${host}:${actual}`);
});

const stop = () => {
  io.close(() => {
    void Promise.allSettled(redisClients.map((c) => c.quit())).then(() => process.exit(0));
  });
  setTimeout(() => process.exit(0), 3000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
