import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import type { Socket } from 'socket.io-client';
import type { Message, Room, User } from '../../src/chat/types.js';
import type { Logger } from '../../src/logger.js';
import { emitAck, eventWhere, TestClient } from './client.js';
import { startServer, type Backend, type TestServer } from './server.js';

export { eventWhere };

/** The error codes a socket acknowledgement may carry (PROTOCOL.md). */
export const SOCKET_CODES = ['bad_request', 'unauthorized', 'forbidden', 'not_found', 'rate_limited', 'internal'] as const;
export type SocketCode = (typeof SOCKET_CODES)[number];

export type AckFail = { ok: false; error: { code: SocketCode; message: string } };
export type Ack<T extends object = object> = ({ ok: true } & T) | AckFail;
export type JoinAck = Ack<{ room: Room; history: Message[]; hasMore: boolean }>;
export type MessageAck = Ack<{ message: Message }>;
export type MessagesAck = Ack<{ messages: Message[]; hasMore: boolean }>;

/** A room id that is valid (1-32 of a-z, 0-9, -) and unique to the test. */
export const uniqueRoomId = (base = 'r') => `${base}-${randomBytes(5).toString('hex')}`;

/** Asserts a successful ack and narrows it. */
export function ok<T extends object>(ack: Ack<T>, what = 'ack'): { ok: true } & T {
  expect(ack, what).to.be.an('object');
  if (!ack.ok) expect.fail(`${what}: expected ok, got ${JSON.stringify(ack)}`);
  return ack;
}

/** Asserts a failed ack with `code` and a string message. */
export function fails(ack: Ack<object>, code: SocketCode, what = 'ack'): void {
  expect(ack, what).to.be.an('object');
  expect(ack.ok, `${what}: ${JSON.stringify(ack)}`).to.equal(false);
  const { error } = ack as AckFail;
  expect(error.code, `${what}: ${JSON.stringify(ack)}`).to.equal(code);
  expect(error.message, what).to.be.a('string');
}

/** Records every payload of `event` a socket receives, from now on. */
export function collect<T = unknown>(socket: Socket, event: string): T[] {
  const seen: T[] = [];
  socket.on(event, (payload: T) => seen.push(payload));
  return seen;
}

/** Polls `pred` until it holds; fails with `label` after `ms`. */
export async function waitFor(pred: () => boolean | Promise<boolean>, label: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > deadline) expect.fail(`timed out waiting for ${label}`);
    await sleep(20);
  }
}

/** True if a matching `event` arrives within `ms` (for "nothing of that kind arrives" checks). */
export function arrivesWhere<T = unknown>(socket: Socket, event: string, pred: (p: T) => boolean, ms = 300): Promise<boolean> {
  return eventWhere(socket, event, pred, ms).then(
    () => true,
    () => false,
  );
}

/**
 * One real server per describe block, and the users and sockets its tests make.
 * Sockets opened through it are closed after each test (`closeSockets`).
 */
export class ChatHarness {
  server!: TestServer;
  private readonly sockets: Socket[] = [];

  constructor(readonly backend: Backend) {}

  async start(env: Record<string, string> = {}) {
    this.server = await startServer(this.backend, env);
  }

  async stop() {
    this.closeSockets();
    await this.server?.close();
  }

  get url() {
    return this.server.url;
  }

  /** A freshly registered, logged-in user. */
  async user(displayName?: string): Promise<TestClient & { user: User }> {
    const c = new TestClient(this.server.url);
    await c.register(undefined, undefined, displayName);
    return c as TestClient & { user: User };
  }

  /** A connected socket on the user's session, closed after the test. */
  async open(c: TestClient): Promise<Socket> {
    const s = await c.connect();
    this.sockets.push(s);
    return s;
  }

  /** A connected socket that has joined `roomId`. */
  async openIn(c: TestClient, roomId: string): Promise<Socket> {
    const s = await this.open(c);
    ok(await emitAck<JoinAck>(s, 'room:join', { roomId }), `join ${roomId}`);
    return s;
  }

  closeSockets() {
    for (const s of this.sockets.splice(0)) s.close();
  }

  /** Creates a room over HTTP as `owner`. */
  async room(owner: TestClient, opts: { private?: boolean; name?: string } = {}): Promise<Room> {
    const res = await owner.post('/api/rooms', { id: uniqueRoomId(), ...opts }).expect(201);
    return res.body.room as Room;
  }

  /** The app's logger (the one the socket handlers log with), reached through the live sessions. */
  get log(): Logger {
    return this.server.app.log;
  }

  /** Replaces `log.error` while `fn` runs and answers what was logged. */
  async captureErrors(fn: () => Promise<void>): Promise<Array<{ obj: Record<string, unknown>; msg: string }>> {
    const log = this.log;
    const had = Object.prototype.hasOwnProperty.call(log, 'error');
    const original = log.error;
    const seen: Array<{ obj: Record<string, unknown>; msg: string }> = [];
    log.error = ((obj: Record<string, unknown>, msg: string) => {
      seen.push({ obj, msg });
    }) as Logger['error'];
    try {
      await fn();
    } finally {
      if (had) log.error = original;
      else delete (log as Partial<Logger>).error;
    }
    return seen;
  }

  /** Every message of a room (up to 100), through the HTTP API as `reader`. */
  async roomMessages(reader: TestClient, roomId: string, query = 'limit=100'): Promise<Message[]> {
    const res = await reader.agent.get(`/api/rooms/${roomId}/messages?${query}`).expect(200);
    return res.body.messages as Message[];
  }
}

/** Stores `n` messages in a room directly (bypassing the send limit), oldest first. */
export async function seedRoom(server: TestServer, roomId: string, user: User, n: number, prefix = 'seed'): Promise<Message[]> {
  const out: Message[] = [];
  for (let i = 0; i < n; i++) {
    out.push(await server.stores.chat.append(`room:${roomId}`, { roomId, user, text: `${prefix} ${i}` }));
  }
  return out;
}

export const ids = (messages: readonly Message[]) => messages.map((m) => m.id);
