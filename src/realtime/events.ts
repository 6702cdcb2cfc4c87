import type { Server, Socket } from 'socket.io';
import type { SocketErrorCode } from '../errors.js';
import type { Message, Reactions, Room, User } from '../chat/types.js';
import type { EndReason } from 'socket.io-live-session';
import type { Prefs } from '../session/types.js';

/** What a socket is told about its session (the `session` event). */
export interface SessionView {
  user: User;
  prefs: Prefs;
  lastRoomId: string | null;
  expiresAt: string;
}


export type AckFailure = { ok: false; error: { code: SocketErrorCode; message: string } };
export type AckResult<T extends object = object> = ({ ok: true } & T) | AckFailure;
export type Ack<T extends object = object> = (result: AckResult<T>) => void;

/** Every client event takes (payload, ack). Payloads are `unknown` until validated. */
export interface ClientToServerEvents {
  'room:join': (payload: unknown, ack: Ack<{ room: Room; history: Message[]; hasMore: boolean }>) => void;
  'room:leave': (payload: unknown, ack: Ack) => void;
  'message:send': (payload: unknown, ack: Ack<{ message: Message }>) => void;
  'message:history': (payload: unknown, ack: Ack<{ messages: Message[]; hasMore: boolean }>) => void;
  typing: (payload: unknown, ack: Ack) => void;
  'reaction:toggle': (payload: unknown, ack: Ack<{ reactions: Reactions }>) => void;
  'dm:send': (payload: unknown, ack: Ack<{ message: Message }>) => void;
  'dm:history': (payload: unknown, ack: Ack<{ messages: Message[]; hasMore: boolean }>) => void;
  'presence:list': (payload: unknown, ack: Ack<{ online: User[] }>) => void;
}

export interface ServerToClientEvents {
  session: (view: SessionView) => void;
  'session:ended': (payload: { reason: EndReason }) => void;
  'message:new': (message: Message) => void;
  'dm:new': (message: Message) => void;
  typing: (payload: { roomId: string; user: User; typing: boolean }) => void;
  reaction: (payload: { roomId: string; messageId: string; reactions: Reactions }) => void;
  presence: (payload: { user: User; online: boolean }) => void;
  'room:removed': (payload: { roomId: string }) => void;
}

export type ClientEventName = keyof ClientToServerEvents;

export interface SocketData {
  /** Who this socket's session is logged in as (the public fields), kept current by the chat. */
  user: User;
  /** Events of this socket being handled, not yet acknowledged. */
  inFlight: number;
  /** When this socket's last `rate_limited` audit line was written (at most one a second: a flood must not flood the log). */
  limitedAuditAt?: number;
}

export type AppServer = Server<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;
export type AppSocket = Socket<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;
