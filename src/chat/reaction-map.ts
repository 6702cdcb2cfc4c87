import type { Reactions } from './types.js';

/**
 * The one shape both stores answer with: emojis in code-point order, each with
 * its usernames sorted, and no emoji left without users. A stable order keeps
 * client renders (and test assertions) from jittering between toggles.
 *
 * Emoji are client-chosen keys, so the map has no prototype: on a plain `{}`,
 * `out['__proto__'] = users` would replace the prototype instead of adding a
 * key (the emoji would be stored, take one of the emoji slots, and yet be
 * missing from every answer), and a read such as `out['constructor']` would
 * find an inherited function. Without a prototype every emoji is a plain own
 * key, which is what JSON.parse gives the receivers of the ack, the broadcast
 * and history alike. Entries are read with Object.entries, never `map[emoji]`,
 * for the same reason.
 */
export function normalizeReactions(map: Record<string, Iterable<string>>): Reactions {
  const out: Reactions = Object.create(null) as Reactions;
  const byEmoji = Object.entries(map).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
  for (const [emoji, users] of byEmoji) {
    const sorted = [...new Set(users)].sort();
    if (sorted.length > 0) out[emoji] = sorted;
  }
  return out;
}
