import type { IncomingMessage } from 'node:http';
import type { Socket as NetSocket } from 'node:net';

/** The parts of an Engine.IO connection (engine.io's Socket) that batching touches; its own flush is on its prototype. */
interface EngineConnection {
  flush(): void;
  transport: { name: string; socket?: { _socket?: NetSocket } };
  request?: { socket?: NetSocket } | null;
}

/**
 * Marks a TCP socket corked by holdHandshakeResponse and not yet released: a symbol-keyed
 * property (a WeakSet entry costs about ten times as much, and this is one a handshake).
 */
const HELD = Symbol('held handshake response');
type Holdable = NetSocket & { [HELD]?: boolean };

function release(raw: Holdable) {
  if (!raw[HELD]) return;
  raw[HELD] = false;
  raw.uncork();
}

/**
 * Engine.IO's `initial_headers` (a new connection's handshake response is about to be
 * written): holds the response in its TCP socket until the connection has sent its open
 * packet (batchWrites releases it at Engine.IO's `connection`), so that the WebSocket's
 * 101 and the open packet are one write, not two. A handshake that fails in between is
 * released when the event loop turns.
 */
export function holdHandshakeResponse(_headers: unknown, req: IncomingMessage): void {
  const raw: Holdable = req.socket;
  if (raw[HELD]) return;
  raw.cork();
  raw[HELD] = true;
  setImmediate(release, raw);
}

/** Marks a connection that asked to flush in this turn and is not flushed yet. */
const DUE = Symbol('flush due');
type Batched = EngineConnection & { [DUE]?: boolean };

/**
 * The connections that asked to flush in this turn, in the order they asked: `dueCount`
 * of them, at the front of an array that is kept and reused, so that batching allocates
 * nothing. (A Set, the obvious choice, re-allocates its table as it grows and shrinks each
 * turn, and a long-lived Set's new tables go straight to the old generation: megabytes of
 * old-space garbage a second under load, and the full collections they bring.)
 */
const due: Array<Batched | undefined> = [];
let dueCount = 0;
let turnScheduled = false;
let tickScheduled = false;

/** Flushes what is due at the end of the event loop's turn. */
function schedule() {
  if (turnScheduled) return;
  turnScheduled = true;
  setImmediate(flushAtEndOfTurnDue);
}

/** Flushes what is due at the end of the callback running now (a connection's first flush: see batchWrites). */
function scheduleSoon() {
  if (tickScheduled) return;
  tickScheduled = true;
  process.nextTick(flushAtEndOfTickDue);
}

function flushAtEndOfTurnDue() {
  turnScheduled = false;
  flushDue();
}

function flushAtEndOfTickDue() {
  tickScheduled = false;
  flushDue();
}

/** Flushes every connection that asked in this turn, each with its WebSocket's TCP socket corked around it. */
function flushDue() {
  let i = 0;
  try {
    // A connection that asks again while it flushes is flushed again, later in this loop.
    for (; i < dueCount; i++) {
      const conn = due[i]!;
      due[i] = undefined;
      conn[DUE] = false;
      const raw = conn.transport.name === 'websocket' ? conn.transport.socket?._socket : undefined;
      raw?.cork();
      try {
        (Object.getPrototypeOf(conn) as EngineConnection).flush.call(conn);
      } finally {
        raw?.uncork();
      }
    }
  } finally {
    if (i === dueCount) dueCount = 0;
    else {
      // The i-th flush threw: the others still go, in the next turn.
      due.splice(0, i + 1);
      dueCount -= i + 1;
      if (dueCount) schedule();
    }
  }
}

/** Puts a connection on the due list; false when it is on it already. */
function markDue(conn: Batched): boolean {
  if (conn[DUE]) return false;
  conn[DUE] = true;
  due[dueCount++] = conn;
  return true;
}

/** What a batched connection's `flush` does instead: joins this turn's flush. */
function flushAtEndOfTurn(this: Batched) {
  if (markDue(this)) schedule();
}

/** A batched connection's first flush (its CONNECT answer): at the end of the callback that asked, with whatever else is due; its later ones join the turn's. */
function firstFlush(this: Batched) {
  this.flush = flushAtEndOfTurn;
  markDue(this);
  scheduleSoon();
}

/**
 * Engine.IO writes a connection's packets as soon as each is sent: one TCP write (a
 * syscall, and a segment the client must read) per packet, and while that write is
 * pending, the packets after it wait for the next. A room message to its sender and
 * the acknowledgement that follows it went out as two writes; the CONNECT answer and
 * the `session` event, two more.
 *
 * This defers a connection's flush to the end of the event loop's turn (setImmediate:
 * once the callbacks the loop is running now have all run, the reads of every socket
 * that one poll found readable, say, and their microtasks), so everything sent to it in
 * that turn leaves together, the WebSocket frames corked into one write. One flush serves
 * every connection (a broadcast to a room schedules it once), and a connection holds
 * nothing more than its own `flush`. Nothing waits for a timer or for I/O (a flush asked
 * from a timer runs after that iteration's poll, which does not block while it is due),
 * and the order of a connection's packets is Engine.IO's own. A long-polling connection
 * is flushed the same way (one response either way).
 *
 * Why the turn and not the tick (process.nextTick, after each callback, until 2026-12-03):
 * under load a poll hands over many sockets' reads at once; flushing after each one
 * interleaved every read with a write, where now the reads run back to back and then the
 * writes. The system calls are the same (a read and a write an acked event), and yet the
 * server spends about a tenth less CPU on each (bench/HISTORY.md, twenty-fifth pass;
 * bare Socket.IO, which writes from each handler, pays as the tick did). The price is latency
 * within a turn: a write waits for the rest of the turn's callbacks. For events, tens of
 * microseconds each (the small-rooms p99, its Redis round trips included, did not move
 * beyond its spread). A handshake's callbacks are heavier (an upgrade, a session read, an
 * admission: hundreds of microseconds), and a handshake waits for its CONNECT answer:
 * flushed at the end of the turn, it cost a fifth of the handshakes a second (25 at a
 * time). So a connection's first flush, its CONNECT answer and what goes with it, still
 * goes at the end of the callback that sent it (process.nextTick), and flushes whatever
 * else is due with it; only its later ones wait for the turn.
 */
export function batchWrites(conn: EngineConnection): void {
  if (conn.request?.socket) release(conn.request.socket);
  conn.flush = firstFlush;
}
