import type { Room } from './types.js';

/** The room that always exists and is open to everyone (PROTOCOL.md). */
export const GENERAL_ROOM_ID = 'general';

export function generalRoom(): Room {
  return { id: GENERAL_ROOM_ID, name: 'General', private: false, owner: null };
}

/** Messages returned by `room:join` and by history calls without a `limit`. */
export const DEFAULT_PAGE_SIZE = 50;
/** Largest page a client may ask for, and the page `room:join {since}` answers. */
export const MAX_PAGE_SIZE = 100;
/** Distinct emojis one message may carry; bounds the size of a reaction map. */
export const MAX_REACTION_EMOJIS = 32;
