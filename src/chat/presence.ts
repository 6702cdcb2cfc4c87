import type { PresenceStore } from './ports.js';
import type { User } from './types.js';
import { publicUser, type FindUserById } from './users.js';

/** `presence:list`: the online users, sorted by username; ids whose user no longer exists are skipped. */
export async function listOnline(presence: PresenceStore, findUserById: FindUserById): Promise<User[]> {
  const users = await Promise.all((await presence.online()).map((id) => findUserById(id)));
  return users
    .filter((u): u is User => u !== null)
    .map(publicUser)
    .sort((a, b) => (a.username < b.username ? -1 : a.username > b.username ? 1 : 0));
}
