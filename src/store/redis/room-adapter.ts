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
 * a second on 2 shared cores: the bench's listener-elsewhere rounds, bench/HISTORY.md, thirteenth pass).
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

/**
 * The first byte of a message on a process's own channel (`<prefix>#process#<id>#`),
 * JSON after it: relays of one turn for that process, or another process's IN or OUT
 * of a room (createRoomAdapter's fromProcess). Only processes of this release subscribe
 * to such a channel.
 */
const PROCESS = 0x1e;

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
 * `subscribed` is told each channel once its subscription is in place, `unsubscribed`
 * as its SUNSUBSCRIBE is sent.
 */
export function adapterSubscriber(
  subscriber: RedisClient,
  log: Logger,
  subscribed: (channel: string) => void = () => undefined,
  linger: (channel: string) => number = () => 0,
  unsubscribed: (channel: string) => void = () => undefined,
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
  const unsubscribe = (channel: string, listener: Listener | undefined) => {
    unsubscribed(channel);
    return handled('unsubscribe', () => subscriber.sUnsubscribe(channel, listener, true));
  };
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
  /** The other processes known to be subscribed to the room's channel (their ids, from their HELLO or IN). */
  others: Set<string>;
  /** Until when `others` is known to be all of them (0: not known). */
  until: number;
  /** Changes to `others` (a HELLO, an IN or an OUT heard, a process found gone): a probe that spans one proves nothing. */
  changes: number;
  /** When this process last asked the room who is there (its HELLO again), for at most one census per `aloneMs`. */
  censusAt: number;
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
 * - Room peers: which other processes are subscribed to a tracked room's channel. A
 *   process that subscribes says HELLO on the room's channel; each process that hears
 *   it adds it, and answers IN on the newcomer's own channel (PROCESS), so that both
 *   know of each other. A publish to the room learns how many subscribers it reached
 *   (one publish per room at a time, see PeerState.probing): when that is exactly the
 *   processes known and this one, they are all of them for ALONE_MS (a HELLO meanwhile
 *   adds its process and keeps that true); when not (a HELLO missed in an outage, a
 *   process gone without a word, one of an older release), the room is asked again (a
 *   HELLO of ours, at most once per ALONE_MS) and is not trusted until a later publish
 *   agrees.
 * - While they are all known, broadcasts that may be lost (typing) go only where they
 *   are needed: nowhere but this process's sockets when nobody else is there; else to
 *   each process's own channel, all of a turn's to one process in one publish (relay).
 *   A process that gets one for a room it no longer subscribes to answers OUT; one
 *   that is gone (a publish to its channel reached nobody) is forgotten at once.
 *   Every other broadcast is always published on the room's channel.
 */
export interface RoomAdapterOptions {
  client: RedisClient;
  subscriber: RedisClient;
  health: ConnectionHealth;
  channelPrefix: string;
  log: Logger;
  /** This process's id, as other processes know it. Default: a random one. */
  processId?: string;
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

/** A process id as a HELLO or a process-channel message may carry it: what randomUUID makes, or anything as tame. */
const PROCESS_ID = /^[\w-]{1,64}$/;

export function createRoomAdapter(o: RoomAdapterOptions) {
  const { client, log } = o;
  const aloneMs = o.aloneMs ?? ALONE_MS;
  const tracked = o.tracked ?? (() => true);
  const mainChannel = `${o.channelPrefix}#/#`;
  const processId = o.processId ?? randomUUID();
  if (!PROCESS_ID.test(processId)) throw new Error(`room adapter: process id ${JSON.stringify(processId)} is not 1–64 letters, digits, "_" or "-"`);
  /** A process's own channel: relays for it, and the INs and OUTs of the others (namespace names start with "/": no room channel looks like it). */
  const processChannel = (id: string) => `${o.channelPrefix}#process#${id}#`;
  /** Publishes a message of this process's on another's channel (fromProcess reads it); answers how many subscribers it reached. */
  const toProcess = (id: string, kind: 'in' | 'out' | 'relay', body: unknown) => client.sPublish(processChannel(id), `\x1e${JSON.stringify([processId, kind, body])}`);
  /** This process's hello (its own come back to it too, and say nothing). */
  const ownHello = Buffer.from(`{"hello":"${processId}"}`);
  const peers = new Map<string, PeerState>();
  /** The tracked rooms whose channel this process is subscribed to (from the answer to SSUBSCRIBE until SUNSUBSCRIBE is sent). */
  const subscribedRooms = new Set<string>();
  /** False from a cut-off of the subscriber connection until it is restored. */
  let healthy = true;

  /** The room of one of the main namespace's room channels (`<prefix>#/#<room>#`). */
  const roomOf = (channel: string) => (channel.startsWith(mainChannel) && channel.length > mainChannel.length ? channel.slice(mainChannel.length, -1) : undefined);

  const sayHello = (channel: string) => {
    client.sPublish(channel, ownHello).catch((err: unknown) => log.warn({ err: String(err) }, 'socket.io adapter: hello failed'));
  };
  /** Subscribed to a room's channel: says HELLO there if the room is tracked. */
  const subscribed = (channel: string) => {
    const room = roomOf(channel);
    if (room === undefined || !tracked(room)) return;
    subscribedRooms.add(room);
    sayHello(channel);
  };
  const unsubscribed = (channel: string) => {
    const room = roomOf(channel);
    if (room === undefined || !subscribedRooms.delete(room)) return;
    peers.delete(room);
  };
  /** Tells another process, on its own channel, that this one is in a room (IN) or not (OUT). */
  const tell = (id: string, kind: 'in' | 'out', room: string) => {
    toProcess(id, kind, room).catch((err: unknown) => log.debug({ err: String(err) }, `socket.io adapter: ${kind} failed`));
  };
  /** The room's state, made for a room this process subscribes to. */
  const stateOf = (room: string): PeerState | undefined => {
    let state = peers.get(room);
    if (!state && subscribedRooms.has(room)) peers.set(room, (state = { others: new Set(), until: 0, changes: 0, censusAt: 0, probing: false }));
    return state;
  };
  /** Another process is (or is not) subscribed to a room's channel, as it says. */
  const member = (room: string, id: string, present: boolean) => {
    const state = stateOf(room);
    if (!state || id === processId) return;
    if (present) state.others.add(id);
    else state.others.delete(id);
    state.changes += 1;
  };
  /** A process's HELLO on a room's channel: it is there now, and it learns from our IN that we are. */
  const heard = (room: string, id: string) => {
    member(room, id, true);
    if (subscribedRooms.has(room)) tell(id, 'in', room);
  };
  /** Asks a room who is there (our HELLO again: every process there answers IN), at most once per aloneMs. */
  const census = (room: string, state: PeerState) => {
    const now = Date.now();
    if (now - state.censusAt < aloneMs) return;
    state.censusAt = now;
    state.others.clear();
    state.changes += 1;
    sayHello(`${mainChannel}${room}#`);
  };

  let main: ShardedInternals | undefined;
  const lingerOf = o.linger;
  const linger = lingerOf ? (channel: string) => {
    const room = roomOf(channel);
    return room === undefined ? 0 : lingerOf(room);
  } : undefined;
  const factory = createShardedAdapter(client, adapterSubscriber(o.subscriber, log, subscribed, linger, unsubscribed), { channelPrefix: o.channelPrefix, subscriptionMode: 'dynamic' });
  /** Resolves once this process's own channel is subscribed: the answers to its first HELLO go there. */
  const ready = o.subscriber.sSubscribe(processChannel(processId), (raw: Buffer) => fromProcess(raw), true).then(() => undefined);
  ready.catch((err: unknown) => log.warn({ err: String(err) }, 'socket.io adapter: subscribing to this process\'s channel failed'));

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
      if (raw.length < 128 && HELLO.compare(raw, 0, HELLO.length) === 0) {
        const room = raw.equals(ownHello) ? undefined : roomOf(channel.toString());
        if (room !== undefined) helloOf(room, raw);
        return;
      }
      if (raw.length > own.length && raw[0] === 0x7b && own.compare(raw, 0, own.length) === 0) return; // our own, back from Redis
      receive(raw, channel);
    };
    a.doPublish = (message) => {
      const channel = a.computeChannel(message);
      const room = message.type === MessageType.BROADCAST && channel !== mainChannel ? (message as Broadcast).data.opts.rooms[0] : undefined;
      const learn = room === undefined || !tracked(room) ? undefined : probe(room);
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

  /** Another process's HELLO (`{"hello":"<id>"}`); one that does not parse is dropped. */
  function helloOf(room: string, raw: Buffer) {
    let id: unknown;
    try {
      id = (JSON.parse(raw.toString()) as { hello?: unknown }).hello;
    } catch {
      id = undefined;
    }
    if (typeof id === 'string' && PROCESS_ID.test(id)) heard(room, id);
    else log.debug('socket.io adapter: dropped a hello that does not parse');
  }

  /** `\x1f<uid>\n`: how this process's relayed broadcasts start (set with the main namespace's adapter). */
  let ownRelay = '';

  /** Writes another process's relayed broadcast (on the room's channel) to the sockets here that it picks; a frame that does not parse is dropped. */
  function relayed(a: Adapter, raw: Buffer) {
    const uidEnd = raw.indexOf(0x0a, 1);
    const headEnd = uidEnd < 0 ? -1 : raw.indexOf(0x0a, uidEnd + 1);
    let head: unknown;
    try {
      head = headEnd < 0 ? undefined : JSON.parse(raw.toString('utf8', uidEnd + 1, headEnd));
    } catch {
      head = undefined;
    }
    if (!Array.isArray(head) || typeof head[0] !== 'string' || !isStrings(head[1])) {
      log.debug('socket.io adapter: dropped a relayed broadcast that does not parse');
      return;
    }
    writeEncodedToRoom(a, head[0], head[1], [raw.toString('utf8', headEnd + 1)], { preEncoded: true });
  }

  /**
   * A message on this process's own channel: `\x1e` then JSON, `[from, "relay", [[room,
   * [except…], packet]…]]` (another process's relays of one turn), or `[from, "in" | "out",
   * room]`. One that does not parse is dropped.
   */
  function fromProcess(raw: Buffer) {
    let m: unknown;
    try {
      m = raw[0] === PROCESS ? JSON.parse(raw.toString('utf8', 1)) : undefined;
    } catch {
      m = undefined;
    }
    if (!Array.isArray(m) || typeof m[0] !== 'string' || !PROCESS_ID.test(m[0])) {
      log.debug('socket.io adapter: dropped a process message that does not parse');
      return;
    }
    const [from, kind, body] = m as [string, unknown, unknown];
    if ((kind === 'in' || kind === 'out') && typeof body === 'string') return member(body, from, kind === 'in');
    if (kind !== 'relay' || !Array.isArray(body) || !main) return log.debug('socket.io adapter: dropped a process message that does not parse');
    let gone: Set<string> | undefined;
    for (const item of body as unknown[]) {
      if (!Array.isArray(item) || typeof item[0] !== 'string' || !isStrings(item[1]) || typeof item[2] !== 'string') continue;
      const room = item[0];
      // Not subscribed (any more): the sender is told, once per message, and forgets this process there.
      if (!subscribedRooms.has(room)) (gone ??= new Set()).add(room);
      else writeEncodedToRoom(main, room, item[1], [item[2]], { preEncoded: true });
    }
    if (gone) for (const room of gone) tell(from, 'out', room);
  }

  /**
   * Starts a probe of a publish to a room, unless one is in flight already (undefined then):
   * told how many subscribers the publish reached, or `undefined` when it failed, it learns
   * whether the processes known are all of them.
   */
  function probe(room: string): ((reached: number | undefined) => void) | undefined {
    const state = stateOf(room);
    if (!state || state.probing) return undefined;
    state.probing = true;
    const sentAt = Date.now();
    const changes = state.changes;
    // This process is one of the subscribers while its subscription is in place and its subscriber connection is up.
    const self = healthy ? 1 : 0;
    return (reached) => {
      state.probing = false;
      if (reached === undefined || peers.get(room) !== state || state.changes !== changes) return;
      if (reached <= self) {
        // Nobody else at all: whoever was known has left.
        state.others.clear();
        state.until = sentAt + aloneMs;
      } else if (reached === state.others.size + self) state.until = sentAt + aloneMs;
      else {
        state.until = 0;
        census(room, state);
      }
    };
  }

  const maxRelays = o.maxRelaysInFlight ?? MAX_RELAYS_IN_FLIGHT;
  /** Relays queued or published and not yet answered. */
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

  /** This turn's relays, by the process they go to: `[room, except, packet]` each, the same array for every process. */
  const batches = new Map<string, unknown[][]>();
  let flushQueued = false;
  /** Publishes this turn's relays, one message per process; a process whose message reached nobody is gone, and forgotten. */
  const flush = () => {
    flushQueued = false;
    for (const [id, items] of batches) {
      const n = items.length;
      const answered = (reached: number) => {
        relaying -= n;
        if (reached === 0) forget(id);
      };
      toProcess(id, 'relay', items).then(answered, () => answered(-1));
    }
    batches.clear();
  };
  /** A process that nobody subscribes for (gone, or of an older release that has no channel of its own): no room counts it any more. */
  const forget = (id: string) => {
    for (const state of peers.values()) if (state.others.delete(id)) state.changes += 1;
  };

  /** An outage of the subscriber connection: what was known of the rooms (HELLOs may be missed) and this turn's relays are forgotten. */
  const forgetAll = () => {
    peers.clear();
    for (const items of batches.values()) relaying -= items.length;
    batches.clear();
  };
  o.health.on('cut-off', () => {
    healthy = false;
    forgetAll();
  });
  o.health.on('restored', () => {
    healthy = true;
    forgetAll();
  });

  const roomPeers: RoomPeers = {
    alone(room) {
      const state = peers.get(room);
      return state !== undefined && state.others.size === 0 && Date.now() < state.until && main !== undefined && main.rooms.has(room);
    },
    relay(room, except, encoded) {
      if (!main) return;
      if (relaying >= maxRelays) return drop();
      const isTracked = tracked(room);
      const state = isTracked ? peers.get(room) : undefined;
      if (state && state.others.size > 0 && Date.now() < state.until) {
        // Every process there is known: to each one's own channel, with the rest of this turn's.
        const item = [room, except, encoded];
        for (const id of state.others) {
          const batch = batches.get(id);
          if (batch) batch.push(item);
          else batches.set(id, [item]);
          relaying += 1;
        }
        if (!flushQueued) {
          flushQueued = true;
          setImmediate(flush);
        }
        return;
      }
      const channel = main.computeChannel({ type: MessageType.BROADCAST, data: { packet: null, opts: { rooms: [room], except: [], flags: {} } } } as unknown as ClusterMessage);
      const learn = isTracked ? probe(room) : undefined;
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

  return { adapter, peers: roomPeers, hasSockets, ready };
}

const isStrings = (value: unknown): value is string[] => Array.isArray(value) && value.every((v) => typeof v === 'string');
