import { Adapter, MessageType, type ClusterAdapter, type ClusterMessage } from 'socket.io-adapter';

type Publish = (message: Omit<Extract<ClusterMessage, { type: MessageType.BROADCAST }>, 'nsp' | 'uid'>) => void;

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
 */
export function deliverLocallyFirst(adapter: ClusterAdapter): void {
  const publish = (adapter as unknown as { publish: Publish }).publish.bind(adapter);
  adapter.broadcast = async (packet, opts) => {
    if (!opts.flags?.local) {
      publish({ type: MessageType.BROADCAST, data: { packet, opts: { rooms: [...opts.rooms], except: [...(opts.except ?? [])], flags: opts.flags ?? {} } } });
    }
    Adapter.prototype.broadcast.call(adapter, packet, opts);
  };
}
