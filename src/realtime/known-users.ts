import type { LiveBus } from 'socket.io-live-session';
import type { StoredUser, UserStore } from '../chat/ports.js';
import { isUserChanged } from '../session/types.js';

/** What the admission needs of a user's record: not its password hash, which is not kept. */
export type KnownUser = Pick<StoredUser, 'id' | 'username' | 'displayName' | 'credentialVersion'>;

/**
 * The user records of the users with a socket here, so that the CONNECT of a user's
 * next socket (another tab, a reconnect) needs no read: with presence's slot leases,
 * it then needs no Redis at all.
 *
 * A record is as current as the bus keeps it: the chat sends UserChanged on it after
 * every change of a user's record (display name, password), and that message forgets
 * the record here before anything later on the bus is seen. A record read before the
 * change is never kept after it (the generation check below), and while the bus is cut
 * off every CONNECT reads (messages may be missed then; its resync re-checks the sockets
 * of every user, session-view.ts). So a socket is admitted on a record at most as old as
 * the bus's delivery, which is what the sockets already connected live by too: a password
 * change revokes the sessions it ends, and a login that raced it is ended when the change
 * arrives (session-view.ts), here as on every process.
 */
export function knownUsers(users: UserStore, bus: LiveBus) {
  const records = new Map<string, KnownUser>();
  /** Bumped by whatever may make a record stale: a read that began before a bump is not kept. */
  let generation = 0;
  let cutOff = false;
  const forgetAll = () => {
    generation++;
    records.clear();
  };
  bus.subscribe((m) => {
    if (isUserChanged(m)) {
      generation++;
      records.delete(m.uid);
    }
  });
  bus.onCutOff(() => {
    cutOff = true;
    forgetAll();
  });
  bus.onResync(() => {
    cutOff = false;
    forgetAll();
  });

  return {
    /**
     * The user's record. `withSocketsHere`: the user has a socket here (one in their own
     * room), so a record kept since its admission may serve; otherwise it is read, and
     * kept for the next socket.
     */
    async find(userId: string, withSocketsHere: boolean): Promise<KnownUser | null> {
      if (withSocketsHere) {
        const known = records.get(userId);
        if (known) return known;
      }
      const seen = generation;
      const stored = await users.findById(userId);
      if (!stored) return null;
      const user: KnownUser = { id: stored.id, username: stored.username, displayName: stored.displayName, credentialVersion: stored.credentialVersion };
      if (seen === generation && !cutOff) records.set(userId, user);
      return user;
    },
    /** The record kept for a user with a socket here, if there is one: what `find(userId, true)` answers without a read. */
    kept(userId: string): KnownUser | undefined {
      return records.get(userId);
    },
    /** The user has no socket here any more. */
    forget(userId: string) {
      records.delete(userId);
    },
    /** How many records are kept (for tests). */
    get size() {
      return records.size;
    },
  };
}
