import { EventEmitter } from 'node:events';
import {
  ClientClosedError,
  ClientOfflineError,
  ConnectionTimeoutError,
  createClient,
  createCluster,
  ReconnectStrategyError,
  SocketClosedUnexpectedlyError,
} from 'redis';
import type { RedisTarget } from '../../config.js';
import type { Logger } from '../../logger.js';
import type { ConnectionHealth } from '../../realtime/ports.js';

type SingleClient = ReturnType<typeof createClient>;
type ClusterClient = ReturnType<typeof createCluster>;

/**
 * A connection to one Redis or to a Redis Cluster. node-redis gives both the
 * same command API (a cluster routes each command by its first key), so the
 * stores are written once against this union; keys one script or transaction
 * touches share a hash tag (see keys.ts).
 */
export type RedisClient = SingleClient | ClusterClient;

/** node-redis errors that mean "Redis is not reachable right now". */
const UNAVAILABLE = [ClientClosedError, ClientOfflineError, ConnectionTimeoutError, SocketClosedUnexpectedlyError, ReconnectStrategyError];

/** Whether an error means Redis is unreachable right now (not a bad command): the `unavailable` of errors.ts. */
export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return UNAVAILABLE.some((type) => err instanceof type) || /ECONNREFUSED|ECONNRESET/.test(err.message);
}

export const isCluster = (client: RedisClient): client is ClusterClient => 'masters' in client;

const health = new WeakMap<RedisClient, EventEmitter>();

/** The health events of a client made by createRedisClient. */
export function healthOf(client: RedisClient): ConnectionHealth {
  const emitter = health.get(client);
  if (!emitter) throw new Error('not a client of createRedisClient');
  return emitter;
}

const SOCKET = {
  connectTimeout: 2000,
  reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 2000),
};

/**
 * A client that reconnects forever with capped backoff. By default it fails
 * commands fast while disconnected (instead of queueing them until Redis
 * returns), so that callers can answer `unavailable` promptly. A subscriber
 * queues instead (`queueWhileOffline`): a (un)subscribe issued during an
 * outage must still happen once Redis is back.
 */
export function createRedisClient(target: RedisTarget, log: Logger, role: string, queueWhileOffline = false): RedisClient {
  const disableOfflineQueue = !queueWhileOffline;
  const events = new EventEmitter();
  let client: RedisClient;
  if ('url' in target) {
    const single = createClient({ url: target.url, disableOfflineQueue, socket: SOCKET });
    let down = false;
    single.on('error', (err: Error) => {
      if (down) return;
      down = true;
      log.error({ err: err.message, role }, 'redis connection error');
      events.emit('cut-off');
    });
    single.on('ready', () => {
      if (!down) return;
      down = false;
      log.info({ role }, 'redis connection restored');
      events.emit('restored');
    });
    client = single;
  } else {
    const cluster = createCluster({ rootNodes: target.clusterNodes.map((url) => ({ url })), defaults: { disableOfflineQueue, socket: SOCKET } });
    superviseCluster(cluster, log, role, events);
    client = cluster;
  }
  health.set(client, events);
  return client;
}

/** A cluster's masters each answer PING (a master that is down, before its failover, fails this). */
export async function pingAll(client: RedisClient): Promise<void> {
  if (!isCluster(client)) {
    await client.ping();
    return;
  }
  await Promise.all(client.masters.map(async (master) => (await client.nodeClient(master)).ping()));
}

type Slots = { rediscover(startWith: SingleClient): Promise<void> };

const READY_CHECK_MS = 250;

/**
 * node-redis re-reads a cluster's topology only when a node answers MOVED or
 * ASK, so when a master dies and its replica is promoted, commands for its
 * slots keep going to the dead address, and its sharded subscriptions with
 * them, for ever (node-redis issue #2806). So on a node error this re-reads the
 * topology (`_slots.rediscover`, internal but the one way in, as the issue's
 * workarounds do) until every node is ready again, and carries the sharded
 * subscriptions of the lost nodes over to the slots' new masters. The failover
 * test in test/cluster/ fails if a node-redis upgrade breaks this.
 */
function superviseCluster(cluster: ClusterClient, log: Logger, role: string, events: EventEmitter) {
  let down = false;
  let timer: NodeJS.Timeout | undefined;
  const masterAddresses = () => cluster.masters.map((m) => m.address).sort().join(' ');
  const ready = () => cluster.masters.every((m) => m.client?.isReady !== false && (m.pubSub ? m.pubSub.client.isReady : true));

  async function rediscover() {
    const before = masterAddresses();
    const lost: Array<[channel: string, listener: Parameters<ClusterClient['sSubscribe']>[1], buffers: boolean]> = [];
    for (const master of cluster.masters) {
      const pubSub = master.pubSub?.client;
      if (!pubSub || pubSub.isReady) continue;
      for (const [channel, { buffers, strings }] of pubSub.getPubSubListeners('SHARDED')) {
        for (const listener of buffers) lost.push([channel, listener as never, true]);
        for (const listener of strings) lost.push([channel, listener as never, false]);
      }
    }
    const start = cluster.masters.find((m) => m.client?.isReady)?.client ?? cluster.masters[0]?.client;
    if (!start) return;
    await (cluster as unknown as { _slots: Slots })._slots.rediscover(start as SingleClient);
    if (lost.length && masterAddresses() !== before) {
      // Awaited, so that `restored` means the subscriptions are in place again.
      await Promise.all(lost.map(([channel, listener, buffers]) => cluster.sSubscribe(channel, listener, buffers)));
      log.info({ role, channels: new Set(lost.map(([c]) => c)).size, masters: masterAddresses() }, 'redis cluster topology changed; subscriptions moved to the new masters');
    }
  }

  async function check() {
    timer = undefined;
    if (!cluster.isOpen) return;
    try {
      if (!ready()) await rediscover();
    } catch (err) {
      log.warn({ err: String(err), role }, 'redis cluster topology refresh failed; retrying');
    }
    if (ready()) {
      down = false;
      log.info({ role }, 'redis cluster connections restored');
      events.emit('restored');
    } else {
      timer = setTimeout(() => void check(), READY_CHECK_MS);
      timer.unref();
    }
  }

  cluster.on('node-error', (err: Error, node: { host: string; port: number }) => {
    if (!down) {
      down = true;
      log.error({ err: err.message, role, node: `${node.host}:${node.port}` }, 'redis cluster node error');
      events.emit('cut-off');
    }
    if (!timer) {
      timer = setTimeout(() => void check(), READY_CHECK_MS);
      timer.unref();
    }
  });
  // Errors of the cluster as a whole (e.g. a failed rediscovery) are reported above or retried.
  cluster.on('error', () => undefined);
}
