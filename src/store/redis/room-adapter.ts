import { randomUUID } from 'node:crypto';
import { createShardedAdapter } from '@socket.io/redis-adapter';
import type { Namespace } from 'socket.io';
import { MessageType, type Adapter, type ClusterMessage } from 'socket.io-adapter';
import type { Logger } from '../../logger.js';
import { writeEncodedToRoom } from '../../realtime/local-first.js';
import type { ConnectionHealth, RoomPeers } from '../../realtime/ports.js';
import type { RedisClient } from './client.js';

/**
 * How long a room counts as having no socket on another process after a publish
 * to it reached nobody else: broadcasts that may be lost (typing) skip Redis until
 * then. A process that gets its first socket in the room says so at once (HELLO),
 * which ends it earlier; this bound covers a hello that was missed (an outage).
 */
export const ALONE_MS = 1000;

/**
 * Relayed broadcasts (typing: they may be lost) waiting for Redis's answer, beyond
 * which the next ones are dropped rather than queued. Everything a publish holds
 * waits in this process's memory while Redis is behind (a stall, a failover that
 * keeps the connection), and a typing indicator that arrives seconds late is worth
 * nothing. Far above what a busy process has in flight (about 1,000 at 15,000 relays
 * a second on 2 shared cores: the bench's listener-elsewhere rounds, README's thirteenth pass).
 */
export const MAX_RELAYS_IN_FLIGHT = 10_000;
/** Dropped relays are logged at the first drop, then at most this often, with how many since the last line. */
const DROPPED_LOG_EVERY_MS = 10_000;

/**
 * Published on a room's channel by a process as soon as it subscribed to it: "a
 * socket of mine is in this room now", `{"hello":"<process>"}`. Not an adapter
 * message (no uid, no namespace): adapters that do not know it, those of an older
 * release included, ignore it.
 */
const HELLO = Buffer.from('{"hello":');

/**
 * The first byte of a relayed broadcast (RoomPeers.relay), published on its room's
 * channel as `\x1f<uid>\n["<room>",["<except>",…]]\n<the packet, encoded>`: the
 * packet as Socket.IO writes it to a socket, which the receiving processes write to
 * theirs as it is. Not an adapter message: an adapter that does not know it (an older
 * release's) finds neither JSON's `{` nor a MessagePack map there, and drops it.
 */
const RELAY = 0x1f;

/** What the adapter's publish resolves to (Socket.IO's offset, unused here) when nothing is learned from it. */
const noOffset = () => '';

type Listener = Parameters<RedisClient['sSubscribe']>[1];
type Broadcast = Extract<ClusterMessage, { type: MessageType.BROADCAST }>;
/** What this module uses of @socket.io/redis-adapter's sharded adapter beyond the Adapter class (its own methods, not exported types). */
interface ShardedInternals extends Adapter {
  uid: string;
  doPublish(message: ClusterMessage): Promise<string>;
  computeChannel(message: ClusterMessage): string;
  encode(message: object): string | Buffer;
  onRawMessage(raw: Buffer, channel: Buffer): void;
}

/**
 * What the adapter subscribes with. Three things are mended or added here:
 * - It (un)subscribes without waiting for the answer, so a failure (the client
 *   closing at shutdown, a node's connection dropped in a failover) would be an
 *   unhandled rejection, which ends the process: each is handled and logged.
 * - It unsubscribes a room's channel with no listener named, which node-redis
 *   carries out without marking the channel as leaving: a join of the same room
 *   before that answer (a last socket leaving as another arrives) would just add
 *   its listener, and the answer would then drop every listener and leave the
 *   room unsubscribed while it has sockets. The adapter uses one listener for all
 *   its channels, so its unsubscribe is made to name it, which node-redis orders
 *   right (a subscribe meanwhile sends SSUBSCRIBE again).
 * - `linger(channel)`: how long a channel stays subscribed after its room's last
 *   socket here left (0: not at all). A room joined again meanwhile (a reconnect,
 *   a page load) costs no SSUBSCRIBE, its later leave no SUNSUBSCRIBE, and a hold
 *   of it (room-channels.ts) none either: it is subscribed all along.
 * `subscribed` is told each channel once its subscription is in place.
 */
export function adapterSubscriber(
  subscriber: RedisClient,
  log: Logger,
  subscribed: (channel: string) => void = () => undefined,
  linger: (channel: string) => number = () => 0,
) {
  let adapterListener: Listener | undefined;
  /** Channels whose room has no socket here, kept subscribed until their timer runs out. */
  const lingering = new Map<string, { timer: NodeJS.Timeout; listener: Listener | undefined }>();
  /** Runs a (un)subscribe, turning any failure, thrown or rejected, into a log line; true when it succeeded. */
  const handled = async (what: string, run: () => Promise<unknown>) => {
    try {
      await run();
      return true;
    } catch (err) {
      if (subscriber.isOpen) log.warn({ err: String(err) }, `socket.io adapter: ${what} failed`);
      return false;
    }
  };
  const unsubscribe = (channel: string, listener: Listener | undefined) =>
    handled('unsubscribe', () => subscriber.sUnsubscribe(channel, listener, true));
  return {
    sSubscribe: async (channel: string, listener: Listener, buffers?: boolean) => {
      adapterListener = listener;
      const kept = lingering.get(channel);
      if (kept) {
        clearTimeout(kept.timer);
        lingering.delete(channel);
        // Still subscribed, with this very listener: nothing to ask Redis.
        if (kept.listener === listener) return subscribed(channel);
        void unsubscribe(channel, kept.listener);
      }
      if (await handled('subscribe', () => subscriber.sSubscribe(channel, listener, buffers))) subscribed(channel);
    },
    sUnsubscribe: (channel: string, listener?: Listener, buffers?: boolean) => {
      if (listener) return handled('unsubscribe', () => subscriber.sUnsubscribe(channel, listener, buffers));
      const ms = linger(channel);
      if (ms <= 0) return unsubscribe(channel, adapterListener);
      if (lingering.has(channel)) return Promise.resolve(true); // leaving already, on its own timer
      const kept = adapterListener;
      // A join meanwhile clears this timer (sSubscribe), so when it fires the channel is still lingering.
      const timer = setTimeout(() => {
        lingering.delete(channel);
        void unsubscribe(channel, kept);
      }, ms);
      timer.unref();
      lingering.set(channel, { timer, listener: kept });
      return Promise.resolve(true);
    },
  };
}

interface PeerState {
  /** Until when nobody else is known to have sockets in the room (0: not known). */
  until: number;
  /** Hellos heard for the room: a probe that spans one proves nothing. */
  hellos: number;
  /**
   * A publish to the room is in flight whose answer will be learned from. The publishes
   * meanwhile learn nothing: one answer a round trip says as much as one per publish, and
   * while Redis is behind, each of them holds nothing of its own but what the client keeps.
   */
  probing: boolean;
}

/**
 * Socket.IO's sharded Redis adapter (SPUBLISH/SSUBSCRIBE: one channel per room,
 * subscribed only by the processes with sockets in it), with what this server
 * adds to it:
 * - Our own broadcasts are recognised when Redis hands them back (we are
 *   subscribed to the rooms we have sockets in) by their first bytes, without
 *   parsing them: they are encoded with the adapter's uid first.
 * - Room peers: a publish to a room learns how many subscribers it reached (one
 *   publish per room at a time, see PeerState.probing). When that was only this
 *   process (or nobody), the room counts as having no socket elsewhere for ALONE_MS,
 *   or until another process says HELLO on the room's channel (it does so right
 *   after subscribing), and broadcasts that may be lost (typing) are then not
 *   published at all (realtime/local-first.ts).
 *   Every other broadcast is always published.
 */
export interface RoomAdapterOptions {
  client: RedisClient;
  subscriber: RedisClient;
  health: ConnectionHealth;
  channelPrefix: string;
  log: Logger;
  aloneMs?: number;
  /**
   * The rooms whose peers are tracked: those that get broadcasts that may skip Redis
   * (a chat room's typing). The others (a user's own room) are never probed and get no
   * HELLO, which would only cost a publish per first socket. Default: every room.
   */
  tracked?: (room: string) => boolean;
  /** How long a room's channel stays subscribed after its last socket here left, in ms (see adapterSubscriber). Default: 0. */
  linger?: (room: string) => number;
  /** Default: MAX_RELAYS_IN_FLIGHT. */
  maxRelaysInFlight?: number;
}

export function createRoomAdapter(o: RoomAdapterOptions) {
  const { client, log } = o;
  const aloneMs = o.aloneMs ?? ALONE_MS;
  const tracked = o.tracked ?? (() => true);
  const mainChannel = `${o.channelPrefix}#/#`;
  const peers = new Map<string, PeerState>();
  /** This process's hello (its own come back to it too, and say nothing). */
  const ownHello = Buffer.from(`{"hello":"${randomUUID()}"}`);
  let healthy = true;
  o.health.on('cut-off', () => {
    healthy = false;
    peers.clear();
  });
  o.health.on('restored', () => {
    healthy = true;
    peers.clear();
  });

  /** The room of one of the main namespace's room channels (`<prefix>#/#<room>#`). */
  const roomOf = (channel: string) => (channel.startsWith(mainChannel) && channel.length > mainChannel.length ? channel.slice(mainChannel.length, -1) : undefined);

  const hello = (channel: string) => {
    const room = roomOf(channel);
    if (room === undefined || !tracked(room)) return;
    client.sPublish(channel, ownHello).catch((err: unknown) => log.warn({ err: String(err) }, 'socket.io adapter: hello failed'));
  };
  const heard = (room: string) => {
    const state = peers.get(room);
    if (!state) return;
    state.hellos += 1;
    state.until = 0;
  };

  let main: ShardedInternals | undefined;
  const lingerOf = o.linger;
  const linger = lingerOf ? (channel: string) => {
    const room = roomOf(channel);
    return room === undefined ? 0 : lingerOf(room);
  } : undefined;
  const factory = createShardedAdapter(client, adapterSubscriber(o.subscriber, log, hello, linger), { channelPrefix: o.channelPrefix, subscriptionMode: 'dynamic' });

  function adapter(nsp: Namespace): Adapter {
    const a = factory(nsp) as unknown as ShardedInternals;
    if (nsp.name !== '/') return a;
    main = a;
    const own = Buffer.from(`{"uid":${JSON.stringify(a.uid)},`);
    ownRelay = `\x1f${a.uid}\n`;
    const ownRelayBytes = Buffer.from(ownRelay);
    const receive = a.onRawMessage.bind(a);
    a.onRawMessage = (raw, channel) => {
      if (raw[0] === RELAY) {
        const mine = raw.length >= ownRelayBytes.length && ownRelayBytes.compare(raw, 0, ownRelayBytes.length) === 0;
        if (!mine) relayed(a, raw);
        return;
      }
      // Buffer#compare with ranges: no slice of every message is made to look at its first bytes.
      if (raw.length === ownHello.length && HELLO.compare(raw, 0, HELLO.length) === 0) {
        const room = raw.equals(ownHello) ? undefined : roomOf(channel.toString());
        if (room !== undefined) heard(room);
        return;
      }
      if (raw.length > own.length && raw[0] === 0x7b && own.compare(raw, 0, own.length) === 0) return; // our own, back from Redis
      receive(raw, channel);
    };
    a.doPublish = (message) => {
      const channel = a.computeChannel(message);
      const room = message.type === MessageType.BROADCAST && channel !== mainChannel ? (message as Broadcast).data.opts.rooms[0] : undefined;
      const learn = room === undefined || !tracked(room) ? undefined : probe(a, room);
      // uid first (insertion order is JSON.stringify's order), so that our own broadcasts are recognised without parsing.
      const payload = a.encode(Object.assign({ uid: message.uid, nsp: message.nsp }, message));
      const sent = client.sPublish(channel, payload);
      if (!learn) return sent.then(noOffset);
      return sent.then(
        (reached) => {
          learn(reached);
          return '';
        },
        (err: unknown) => {
          learn(undefined);
          throw err;
        },
      );
    };
    a.on('delete-room', (room: string) => peers.delete(room));
    return a;
  }

  /** `\x1f<uid>\n`: how this process's relayed broadcasts start (set with the main namespace's adapter). */
  let ownRelay = '';

  /** Writes another process's relayed broadcast to the sockets here that it picks; a frame that does not parse is dropped. */
  function relayed(a: Adapter, raw: Buffer) {
    const uidEnd = raw.indexOf(0x0a, 1);
    const headEnd = uidEnd < 0 ? -1 : raw.indexOf(0x0a, uidEnd + 1);
    let head: unknown;
    try {
      head = headEnd < 0 ? undefined : JSON.parse(raw.toString('utf8', uidEnd + 1, headEnd));
    } catch {
      head = undefined;
    }
    if (!Array.isArray(head) || typeof head[0] !== 'string' || !Array.isArray(head[1]) || !head[1].every((r) => typeof r === 'string')) {
      log.debug('socket.io adapter: dropped a relayed broadcast that does not parse');
      return;
    }
    writeEncodedToRoom(a, head[0], head[1] as string[], [raw.toString('utf8', headEnd + 1)], { preEncoded: true });
  }

  /**
   * Starts a probe of a publish to a room, unless one is in flight already (undefined then):
   * told how many subscribers the publish reached, or `undefined` when it failed, it learns
   * whether anyone else is there.
   */
  function probe(a: ShardedInternals, room: string): ((reached: number | undefined) => void) | undefined {
    let state = peers.get(room);
    if (!state) peers.set(room, (state = { until: 0, hellos: 0, probing: false }));
    if (state.probing) return undefined;
    state.probing = true;
    const sentAt = Date.now();
    const hellos = state.hellos;
    // This process is one of the subscribers when it has sockets in the room (they joined once it was subscribed) and its subscriber connection is up.
    const self = a.rooms.has(room) && healthy ? 1 : 0;
    const probed = state;
    return (reached) => {
      probed.probing = false;
      if (reached === undefined || peers.get(room) !== probed) return;
      probed.until = reached <= self && probed.hellos === hellos ? sentAt + aloneMs : 0;
    };
  }

  const maxRelays = o.maxRelaysInFlight ?? MAX_RELAYS_IN_FLIGHT;
  /** Relays published and not yet answered. */
  let relaying = 0;
  /** A relay's answer, or its failure (when nothing is learned from it, this function is all it holds). */
  const relayAnswered = () => {
    relaying -= 1;
  };
  let dropped = 0;
  let droppedLoggedAt = -Infinity;
  const drop = () => {
    dropped += 1;
    const now = Date.now();
    if (now - droppedLoggedAt < DROPPED_LOG_EVERY_MS) return;
    log.warn({ dropped, inFlight: relaying }, 'socket.io adapter: Redis is behind, typing broadcasts to other processes dropped');
    droppedLoggedAt = now;
    dropped = 0;
  };

  const roomPeers: RoomPeers = {
    alone(room) {
      const state = peers.get(room);
      return state !== undefined && Date.now() < state.until && main !== undefined && main.rooms.has(room);
    },
    relay(room, except, encoded) {
      if (!main) return;
      if (relaying >= maxRelays) return drop();
      const channel = main.computeChannel({ type: MessageType.BROADCAST, data: { packet: null, opts: { rooms: [room], except: [], flags: {} } } } as unknown as ClusterMessage);
      const learn = tracked(room) ? probe(main, room) : undefined;
      const frame = `${ownRelay}${JSON.stringify([room, except])}\n${encoded}`;
      relaying += 1;
      // A failure is dropped, as the adapter's own publish drops it: the connection's trouble is logged where it is watched.
      const sent = client.sPublish(channel, frame);
      if (!learn) return void sent.then(relayAnswered, relayAnswered);
      sent.then(
        (reached) => {
          relayAnswered();
          learn(reached);
        },
        () => {
          relayAnswered();
          learn(undefined);
        },
      );
    },
  };

  /** Whether the main namespace has sockets in `room` on this process. */
  const hasSockets = (room: string) => main?.rooms.has(room) ?? false;

  return { adapter, peers: roomPeers, hasSockets };
}
