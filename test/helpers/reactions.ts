import type { Reactions } from '../../src/chat/types.js';

/** Emoji named like keys every plain object inherits: each must stay an ordinary key of a reaction map. */
export const PROTOTYPE_NAMES = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf'] as const;

/**
 * A reaction map as [emoji, users] pairs of its own keys, in key order. Chai's
 * deep equality goes by what it can enumerate, so an emoji that went into the
 * prototype (`out['__proto__'] = users`) would pass unseen; own keys cannot.
 */
export function ownReactionPairs(map: Reactions): Array<[string, unknown]> {
  return Object.keys(map).map((emoji) => [emoji, Object.getOwnPropertyDescriptor(map, emoji)?.value]);
}

/** What toggling `username` on `emoji` makes of `pairs` (sorted, empty emojis dropped): the model tests compare against. */
export function togglePairs(pairs: Array<[string, string[]]>, emoji: string, username: string): Array<[string, string[]]> {
  const map = new Map(pairs);
  const users = map.get(emoji) ?? [];
  const next = users.includes(username) ? users.filter((u) => u !== username) : [...users, username].sort();
  if (next.length > 0) map.set(emoji, next);
  else map.delete(emoji);
  return [...map.entries()].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
}
