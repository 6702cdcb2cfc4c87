import { randomUUID } from 'node:crypto';
import type { StoredUser, UserStore } from '../../chat/ports.js';

export function createMemoryUserStore(): UserStore {
  const byId = new Map<string, StoredUser>();
  const idByName = new Map<string, string>();
  const copy = (u: StoredUser | undefined) => (u ? { ...u } : null);

  return {
    async create({ username, displayName, passwordHash }) {
      if (idByName.has(username)) return null;
      const user: StoredUser = { id: randomUUID(), username, displayName, passwordHash, credentialVersion: 0 };
      byId.set(user.id, user);
      idByName.set(username, user.id);
      return { ...user };
    },
    async findById(id) {
      return copy(byId.get(id));
    },
    async findByUsername(username) {
      const id = idByName.get(username);
      return id === undefined ? null : copy(byId.get(id));
    },
    async update(id, changes) {
      const user = byId.get(id);
      if (!user) return null;
      Object.assign(user, changes);
      return { ...user };
    },
    async changePassword(id, expectedVersion, passwordHash) {
      const user = byId.get(id);
      if (!user || user.credentialVersion !== expectedVersion) return null;
      user.passwordHash = passwordHash;
      user.credentialVersion += 1;
      return user.credentialVersion;
    },
  };
}
