import { Adapter, MessageType, type BroadcastOptions, type ClusterAdapter, type ClusterMessage } from 'socket.io-adapter';
import type { RoomPeers } from './ports.js';

type Publish = (message: Omit<Extract<ClusterMessage, { type: MessageType.BROADCAST }>, 'nsp' | 'uid'>) => void;

/**
 * Events that may be lost: a socket that joins a room a moment later never sees
 * them either, and nothing stores them. Only these skip Redis when no other
 * process has sockets in the room (RoomPeers); everything else is always published.
 */
const MAY_BE_LOST: ReadonlySet<unknown> = new Set(['typing']);

const DELIVERED: Promise<void> = Promise.resolve();

/**
 * Whether a broadcast to one room has a recipient on this process: a member of the room
 * that no `except` room holds. Socket.IO's adapter encodes a packet before it looks for
 * recipients, so a typing event to a room whose other members are all elsewhere (or
 * offline) was encoded for nobody; this answers after a member or two in a large room.
 * Several rooms, or none (every socket), are left to the adapter.
 */
function reachesHere(adapter: Adapter, opts: BroadcastOptions): boolean {
  if (opts.rooms.size !== 1) return true;
  const members = adapter.rooms.get(opts.rooms.values().next().value!);
  if (!members) return false;
  const except = opts.except;
  if (!except?.size) return members.size > 0;
  members: for (const sid of members) {
    for (const room of except) if (adapter.rooms.get(room)?.has(sid)) continue members;
    return true;
  }
  return false;
}

/**
 * How Socket.IO's adapter encodes (private in socket.io-adapter's types): `_encode` also
 * frames the packet for WebSocket once for all the sockets here, which only pays when
 * there are some; `encoder` is the server's packet encoder it calls.
 */
interface Encoding {
  _encode(packet: Packet, packetOpts: PacketOptions): unknown[];
  encoder: { encode(packet: Packet): unknown[] };
}
type Packet = Parameters<Adapter['broadcast']>[0];
type PacketOptions = { preEncoded: true; volatile?: boolean; compress?: boolean };
/** A socket as the adapter's `apply` hands it over: its connection (Socket.IO's Client), and the outgoing listeners it tells first. */
interface Recipient {
  client: { writeToEngine(encoded: unknown[], opts: PacketOptions): void };
  notifyOutgoingListeners?(packet: Packet): void;
}
/** The adapter's own walk over the sockets a broadcast picks (private in socket.io-adapter's types; its broadcast uses it). */
interface Picking {
  apply(opts: BroadcastOptions, callback: (socket: Recipient) => void): void;
}

/** No flag that changes how a broadcast travels (volatile, compress, local, a timeout for acks). */
function plain(flags: BroadcastOptions['flags']): boolean {
  return !flags || (flags.volatile === undefined && flags.compress === undefined && !flags.local && flags.timeout === undefined);
}

/**
 * Writes a packet encoded already to this process's sockets that `opts` picks, as the
 * adapter's own broadcast does after encoding it (socket.io-adapter's InMemoryAdapter).
 * `packet` is what their outgoing listeners are told; without it (a relayed broadcast,
 * which arrives encoded), sockets with such listeners are told nothing. Neither this
 * server nor socket.io-live-session sets any.
 */
export function writeEncoded(adapter: Adapter, opts: BroadcastOptions, encoded: unknown[], packetOpts: PacketOptions, packet?: Packet): void {
  (adapter as unknown as Picking).apply(opts, (socket) => {
    if (packet) socket.notifyOutgoingListeners?.(packet);
    socket.client.writeToEngine(encoded, packetOpts);
  });
}

/**
 * writeEncoded for a broadcast to one room, its `except` rooms named in an array (a
 * relayed broadcast, store/redis/room-adapter.ts): the room's members here that no except
 * room holds. When no except room has sockets here (the common case: the one excluded is
 * the sender's own socket, a room only on the sender's process), the members are written
 * to as they are, without the two sets the adapter's walk builds for every broadcast and
 * the two its options would take.
 */
export function writeEncodedToRoom(adapter: Adapter, room: string, except: readonly string[], encoded: unknown[], packetOpts: PacketOptions): void {
  const members = adapter.rooms.get(room);
  if (!members) return;
  if (except.some((r) => adapter.rooms.has(r))) {
    writeEncoded(adapter, { rooms: new Set([room]), except: new Set(except) }, encoded, packetOpts);
    return;
  }
  const sockets = adapter.nsp.sockets as unknown as ReadonlyMap<string, Recipient>;
  for (const id of members) sockets.get(id)?.client.writeToEngine(encoded, packetOpts);
}

/**
 * A broadcast that may be lost, to one room, with `peers` to relay it: encoded once,
 * for this process's recipients and for the other processes' alike (peers.relay), which
 * write it as it is. Socket.IO's cluster adapter publishes the packet as an object
 * instead, which every receiving process decodes and encodes again, and the publishing
 * one encodes it a second time for its own sockets. False when the packet does not
 * encode as one string (binary data): the caller takes the adapter's own way.
 */
function broadcastEncoded(adapter: ClusterAdapter, peers: RoomPeers, packet: Packet, opts: BroadcastOptions, room: string): boolean {
  const elsewhere = !peers.alone(room);
  const here = reachesHere(adapter, opts);
  if (!elsewhere && !here) return true;
  const packetOpts: PacketOptions = { preEncoded: true };
  packet.nsp = adapter.nsp.name;
  const encoding = adapter as unknown as Encoding;
  const encoded = here ? encoding._encode(packet, packetOpts) : encoding.encoder.encode(packet);
  const wire = encoded[0];
  if (encoded.length !== 1 || typeof wire !== 'string') return false;
  if (elsewhere) peers.relay(room, opts.except?.size ? [...opts.except] : [], wire);
  if (here) writeEncoded(adapter, opts, encoded, packetOpts, packet);
  return true;
}

/**
 * Socket.IO's ClusterAdapter delivers a broadcast to this process's own sockets
 * only once Redis has answered the publish, since it needs the answer as an
 * offset for connection state recovery, which this server does not use: a Redis
 * round trip added to every local delivery (fan-out p50 latency 1.2x bare
 * Socket.IO's; 0.88x without it, `npm run bench -- --only=fanout`). So this
 * delivers locally at once and publishes without waiting, through the adapter's
 * own `publish`, which logs a failed publish as the adapter always has (a
 * failure never held local delivery back: it was delivered after the error).
 * The options are encoded as the adapter encodes them for the other processes.
 *
 * With `peers`, a typing event to a room where no other process has sockets is
 * not published at all (a Redis write, and reading it back, per keystroke), and
 * one to a room that has is encoded once and relayed as it is (broadcastEncoded).
 */
export function deliverLocallyFirst(adapter: ClusterAdapter, peers?: RoomPeers): void {
  const publish = (adapter as unknown as { publish: Publish }).publish.bind(adapter);
  // Nothing to wait for: one settled promise for every broadcast (Socket.IO ignores it), instead of an async function's own.
  adapter.broadcast = (packet, opts) => {
    const room = opts.rooms.size === 1 ? opts.rooms.values().next().value! : undefined;
    const lossy = peers !== undefined && room !== undefined && MAY_BE_LOST.has(packet.data?.[0]) && plain(opts.flags);
    if (lossy && broadcastEncoded(adapter, peers, packet, opts, room)) return DELIVERED;
    if (!opts.flags?.local && !(lossy && peers.alone(room))) {
      publish({ type: MessageType.BROADCAST, data: { packet, opts: { rooms: [...opts.rooms], except: [...(opts.except ?? [])], flags: opts.flags ?? {} } } });
    }
    if (reachesHere(adapter, opts)) Adapter.prototype.broadcast.call(adapter, packet, opts);
    return DELIVERED;
  };
}

/**
 * The in-memory adapter (one process, no Redis): a broadcast nobody here can receive is
 * not encoded either (see reachesHere).
 */
export function encodeOnlyForRecipients(adapter: Adapter): void {
  const broadcast = adapter.broadcast.bind(adapter);
  adapter.broadcast = (packet, opts) => {
    if (reachesHere(adapter, opts)) broadcast(packet, opts);
  };
}
