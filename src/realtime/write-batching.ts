import type { Socket as NetSocket } from 'node:net';

/** The parts of an Engine.IO connection (engine.io's Socket) that batching touches. */
interface EngineConnection {
  flush(): void;
  transport: { name: string; socket?: { _socket?: NetSocket } };
}

/**
 * Engine.IO writes a connection's packets as soon as each is sent: one TCP write (a
 * syscall, and a segment the client must read) per packet, and while that write is
 * pending, the packets after it wait for the next. A room message to its sender and
 * the acknowledgement that follows in the same tick went out as two writes; the
 * CONNECT answer and the `session` event, two more.
 *
 * This defers a connection's flush to the end of the current tick (process.nextTick:
 * after the microtasks that run with it, before any I/O), so everything sent to it in
 * that tick leaves together, the WebSocket frames corked into one write. Nothing waits
 * for a timer or for other connections, and the order of packets is Engine.IO's own.
 * A long-polling connection is flushed the same way (one response either way).
 */
export function batchWrites(conn: EngineConnection): void {
  const flush = conn.flush.bind(conn);
  let scheduled = false;
  const run = () => {
    scheduled = false;
    const raw = conn.transport.name === 'websocket' ? conn.transport.socket?._socket : undefined;
    raw?.cork();
    try {
      flush();
    } finally {
      raw?.uncork();
    }
  };
  conn.flush = () => {
    if (scheduled) return;
    scheduled = true;
    process.nextTick(run);
  };
}
