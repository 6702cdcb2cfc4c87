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
 * not published at all (a Redis write, and reading it back, per keystroke).
 */
export function deliverLocallyFirst(adapter: ClusterAdapter, peers?: RoomPeers): void {
  const publish = (adapter as unknown as { publish: Publish }).publish.bind(adapter);
  // Nothing to wait for: one settled promise for every broadcast (Socket.IO ignores it), instead of an async function's own.
  adapter.broadcast = (packet, opts) => {
    if (!opts.flags?.local && !(peers && opts.rooms.size === 1 && MAY_BE_LOST.has(packet.data?.[0]) && peers.alone(opts.rooms.values().next().value!))) {
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
