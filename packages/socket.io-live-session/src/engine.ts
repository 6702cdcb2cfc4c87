import type { IncomingMessage } from 'node:http';

type Listener = (...args: never[]) => unknown;

/** The parts of an Engine.IO server (engine.io 6, `io.engine`) this module touches. */
export interface EngineLike {
  /** The WebSocket server (ws), absent when the websocket transport is off. */
  ws?: { listeners(event: 'headers'): Listener[]; removeAllListeners(event: 'headers'): unknown; on(event: 'headers', fn: Listener): unknown };
  emit(event: string, ...args: unknown[]): boolean;
}

type UpgradeRequest = IncomingMessage & { _query?: { sid?: string }; [key: symbol]: unknown };

/**
 * engine.io's own `headers` listener (engine.io 6.x `Server#init`), recognised by what it
 * does: it moves the headers that middleware set on an upgrade's stand-in response into the
 * 101 response, announces `initial_headers` and `headers`, and `delete`s its symbol-keyed
 * property from the request.
 */
const isEngineHeadersListener = (fn: Listener) => {
  const source = Function.prototype.toString.call(fn);
  return source.includes('delete req[kResponseHeaders]') && source.includes('initial_headers');
};

/** The description of engine.io's `kResponseHeaders` symbol. */
const RESPONSE_HEADERS = 'responseHeaders';

/**
 * With any engine middleware (the live session adds one), engine.io runs each WebSocket
 * upgrade's middleware against a stand-in response that keeps the headers it is given in
 * a symbol-keyed property of the request, and its `headers` listener then `delete`s that
 * property. By then the middleware have added properties after it (express-session's
 * `session`, `sessionID`, ...), and deleting a property that is not an object's last one
 * turns the object into a slow, dictionary-mode one for good: every upgrade request cost a
 * dictionary (~1.6 KB) and slower property reads in everything that reads it afterwards
 * (Socket.IO's handshake, the app's io.use). This puts an equivalent listener in the place
 * of engine.io's, which overwrites the property with `undefined` instead: the same headers
 * and events, in the same order, and the request stays a fast object.
 *
 * Changes nothing, and answers false, when engine.io's listener is not the one described
 * above (another version, or one that no longer deletes).
 */
export function keepUpgradeRequestsFast(engine: EngineLike): boolean {
  const ws = engine.ws;
  if (!ws || typeof ws.listeners !== 'function') return false;
  const listeners = ws.listeners('headers');
  const theirs = listeners.find(isEngineHeadersListener);
  if (!theirs) return false;
  let key: symbol | undefined;
  const ours = (headersArray: string[], req: UpgradeRequest) => {
    key ??= Object.getOwnPropertySymbols(req).find((s) => s.description === RESPONSE_HEADERS);
    const additional = ((key && req[key]) ?? {}) as Record<string, unknown>;
    if (key && req[key] !== undefined) req[key] = undefined;
    if (!req._query?.sid) engine.emit('initial_headers', additional, req);
    engine.emit('headers', additional, req);
    for (const name of Object.keys(additional)) headersArray.push(`${name}: ${String(additional[name])}`);
  };
  ws.removeAllListeners('headers');
  for (const fn of listeners) ws.on('headers', fn === theirs ? ours : fn);
  return true;
}
