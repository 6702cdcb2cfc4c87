/**
 * Message ids are Redis stream ids, `<ms>-<seq>`: time ordered, unique within a
 * conversation, and strictly increasing even within one millisecond. The
 * memory store mints the same format so that clients cannot tell the two apart.
 */
export const MESSAGE_ID_PATTERN = /^\d{1,16}-\d{1,10}$/;

export function isMessageId(value: string): boolean {
  return MESSAGE_ID_PATTERN.test(value);
}

/** The number made of the digits of `id` from `from` up to `to` (a part of an id; at most 16 digits, exact as a double). */
function digits(id: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) n = n * 10 + (id.charCodeAt(i) - 48);
  return n;
}

/** Numeric order; plain string comparison would put "10-0" before "9-0". Allocates nothing: it runs per message delivered. */
export function compareMessageIds(a: string, b: string): number {
  const da = a.indexOf('-');
  const db = b.indexOf('-');
  return digits(a, 0, da) - digits(b, 0, db) || digits(a, da + 1, a.length) - digits(b, db + 1, b.length);
}

/** The last millisecond messageIdToIso formatted, and its text: the messages of a busy moment share it. */
let isoMs = -1;
let iso = '';

/** `ts` of a message: the time its id was minted. */
export function messageIdToIso(id: string): string {
  const ms = digits(id, 0, id.indexOf('-'));
  if (ms !== isoMs) {
    iso = new Date(ms).toISOString();
    isoMs = ms;
  }
  return iso;
}

/** Mints ids for one in-process store: never repeats, never goes back, even if the clock does. */
export function createMessageIdGenerator(now: () => number = Date.now): () => string {
  let lastMs = 0;
  let seq = 0;
  return () => {
    const ms = now();
    if (ms > lastMs) {
      lastMs = ms;
      seq = 0;
    } else {
      seq += 1; // same ms, or the clock stepped back: stay on lastMs and count up
    }
    return `${lastMs}-${seq}`;
  };
}
