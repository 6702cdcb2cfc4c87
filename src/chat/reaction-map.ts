import type { Reactions } from './types.js';

/**
 * The one shape both stores answer with: emojis in code-point order, each with
 * its usernames sorted, and no emoji left without users. A stable order keeps
 * client renders (and test assertions) from jittering between toggles.
 */
export function normalizeReactions(map: Record<string, Iterable<string>>): Reactions {
  const out: Reactions = {};
  for (const emoji of Object.keys(map).sort()) {
    const users = [...new Set(map[emoji] ?? [])].sort();
    if (users.length > 0) out[emoji] = users;
  }
  return out;
}
