import { AppError } from '../errors.js';
import type { ChatStore, RoomEviction } from './ports.js';
import { roomConversation } from './conversations.js';
import { page } from './pages.js';
import { GENERAL_ROOM_ID, MAX_PAGE_SIZE } from './policy.js';
import type { Message, Room, User } from './types.js';
import { requireUserNamed, type FindUserByUsername } from './users.js';

export interface CreateRoomInput {
  id: string;
  name?: string;
  private?: boolean;
}

/** Creates a room owned by `owner`; 409 room_exists when the id is taken (including `general`). */
export async function createRoom(chat: ChatStore, owner: User, input: CreateRoomInput): Promise<Room> {
  const room: Room = { id: input.id, name: input.name ?? input.id, private: input.private ?? false, owner: owner.username };
  if (!(await chat.createRoom(room))) throw new AppError('room_exists', `room ${input.id} already exists`);
  return room;
}

/** Public rooms, and private ones the user owns or belongs to; `general` first, then by id. */
export async function listRoomsFor(chat: ChatStore, user: User): Promise<Room[]> {
  const rooms = await chat.listRooms();
  const visible = await Promise.all(rooms.map((room) => canAccess(chat, user, room)));
  return rooms.filter((_, i) => visible[i]).sort(byGeneralThenId);
}

function byGeneralThenId(a: Room, b: Room): number {
  if (a.id === GENERAL_ROOM_ID || b.id === GENERAL_ROOM_ID) return a.id === GENERAL_ROOM_ID ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** The owner always gets in, even if membership was somehow lost: ownership is the stronger fact. */
export async function canAccess(chat: ChatStore, user: User, room: Room): Promise<boolean> {
  if (!room.private || room.owner === user.username) return true;
  return chat.isMember(room.id, user.username);
}

/** The error of a room that is not there (`missing`) or not the user's to see (`forbidden`). */
export function roomRefusal(roomId: string, why: 'missing' | 'forbidden'): AppError {
  return why === 'missing' ? new AppError('not_found', `no room ${roomId}`) : new AppError('forbidden', `room ${roomId} is private`);
}

/** The room, if it exists (else not_found) and the user may see it (else forbidden). */
export async function requireRoomAccess(chat: ChatStore, user: User, roomId: string): Promise<Room> {
  const room = await chat.getRoom(roomId);
  if (!room) throw roomRefusal(roomId, 'missing');
  if (!(await canAccess(chat, user, room))) throw roomRefusal(roomId, 'forbidden');
  return room;
}

/**
 * The room plus what the client should show: the latest page (`hasMore`: older
 * messages remain), or, to fill a reconnecting client's gap, the oldest full
 * page after `since` (`hasMore`: newer ones remain, for `message:history {after}`).
 * Bounded either way, so one ack never carries a whole room's history. If `since`
 * was trimmed away, the gap starts at the oldest message left: the rest is gone for everyone.
 */
export async function joinRoom(
  chat: ChatStore,
  user: User,
  roomId: string,
  opts: { since?: string } = {},
): Promise<{ room: Room; history: Message[]; hasMore: boolean }> {
  const room = await requireRoomAccess(chat, user, roomId);
  const gap = opts.since ? { after: opts.since, limit: MAX_PAGE_SIZE } : {};
  const { messages, hasMore } = await page(chat, roomConversation(room.id), gap);
  return { room, history: messages, hasMore };
}

/** The owner, and only the owner, manages members; `general` has no owner, so nobody does. */
async function requireOwnedRoom(chat: ChatStore, actor: User, roomId: string): Promise<Room> {
  const room = await chat.getRoom(roomId);
  if (!room) throw new AppError('not_found', `no room ${roomId}`);
  if (room.owner === null || room.owner !== actor.username) throw new AppError('forbidden', 'only the room owner manages members');
  return room;
}

export async function addMember(
  chat: ChatStore,
  actor: User,
  roomId: string,
  username: string,
  findUserByUsername: FindUserByUsername,
): Promise<void> {
  const room = await requireOwnedRoom(chat, actor, roomId);
  const member = await requireUserNamed(findUserByUsername, username);
  await chat.addMember(room.id, member.username);
}

/**
 * Idempotent for an existing user who is not a member. The owner cannot be
 * removed: they would keep access through ownership anyway, so it would only mislead.
 * The member's sockets leave the room at once, wherever they are (`eviction`): from
 * then on no room traffic reaches them.
 */
export async function removeMember(
  chat: ChatStore,
  actor: User,
  roomId: string,
  username: string,
  findUserByUsername: FindUserByUsername,
  eviction: RoomEviction,
): Promise<User> {
  const room = await requireOwnedRoom(chat, actor, roomId);
  const member = await requireUserNamed(findUserByUsername, username);
  if (member.username === room.owner) throw new AppError('bad_request', 'the owner cannot be removed from their room');
  await chat.removeMember(room.id, member.username);
  await eviction.evict(room.id, member.id);
  return member;
}
