/** socket.io-client helpers for the load generator: websocket only, no deflate, no reconnection unless asked. */
import { io, type Socket } from 'socket.io-client';
import { assertLoopback } from './http.js';
import { pool, sleep } from './util.js';

export type { Socket };

/** socket.io-client's automatic reconnection: first delay, cap, and its randomization (0.5: ±50%). */
export interface Reconnection {
  delay: number;
  delayMax: number;
  randomization?: number;
}

export function makeSocket(url: string, cookie?: string, reconnection?: Reconnection): Socket {
  assertLoopback(url);
  return io(url, {
    forceNew: true,
    reconnection: !!reconnection,
    ...(reconnection && {
      reconnectionDelay: reconnection.delay,
      reconnectionDelayMax: reconnection.delayMax,
      randomizationFactor: reconnection.randomization ?? 0.5,
    }),
    transports: ['websocket'],
    // engine.io-client types it as {threshold}; ws takes false (no permessage-deflate offer).
    perMessageDeflate: false as unknown as { threshold: number },
    timeout: 20_000,
    ...(cookie ? { extraHeaders: { cookie } } : {}),
  });
}

/** Connects; rejects on connect_error or after `ms`. */
export function connect(url: string, cookie?: string, ms = 20_000, reconnection?: Reconnection): Promise<Socket> {
  const socket = makeSocket(url, cookie, reconnection);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error('connect timed out'));
    }, ms);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('connect_error');
      resolve(socket);
    });
    socket.once('connect_error', (err: Error) => {
      clearTimeout(timer);
      socket.close();
      reject(new Error(`connect_error: ${err.message}`));
    });
  });
}

/** Connects n sockets (cookie of socket i: cookies[i % cookies.length]) with bounded concurrency. */
export async function connectMany(url: string, n: number, cookies: readonly string[], concurrency = 50, reconnection?: Reconnection): Promise<Socket[]> {
  const sockets: Socket[] = [];
  try {
    await pool(n, concurrency, async (i) => {
      const s = await connect(url, cookies.length ? cookies[i % cookies.length] : undefined, 20_000, reconnection);
      sockets.push(s);
    });
  } catch (err) {
    closeAll(sockets);
    throw err;
  }
  return sockets;
}

export function closeAll(sockets: Iterable<Socket>) {
  for (const s of sockets) s.close();
}

/** Emits with an ack; rejects after `ms`. */
export function ack<T = Record<string, unknown>>(socket: Socket, event: string, payload: unknown, ms = 10_000): Promise<T> {
  return socket.timeout(ms).emitWithAck(event, payload) as Promise<T>;
}

/** Resolves with the first `event` whose payload passes `match`, or rejects after `ms`. */
export function nextEvent<T = unknown>(socket: Socket, event: string, ms: number, match: (p: T) => boolean = () => true): Promise<T> {
  return new Promise((resolve, reject) => {
    const on = (p: T) => {
      if (!match(p)) return;
      clearTimeout(timer);
      socket.off(event, on);
      resolve(p);
    };
    const timer = setTimeout(() => {
      socket.off(event, on);
      reject(new Error(`no "${event}" within ${ms} ms`));
    }, ms);
    socket.on(event, on);
  });
}

/** Waits for the server to have at most `target` of something (sockets), polling a counter. */
export async function settle(count: () => Promise<number>, target: number, ms = 20_000): Promise<number> {
  const deadline = Date.now() + ms;
  let c = await count();
  while (c > target && Date.now() < deadline) {
    await sleep(50);
    c = await count();
  }
  return c;
}
