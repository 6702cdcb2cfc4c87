/**
 * Message ids are Redis stream ids, `<ms>-<seq>`: time ordered, unique within a
 * conversation, and strictly increasing even within one millisecond. The
 * memory store mints the same format so that clients cannot tell the two apart.
 */
export const MESSAGE_ID_PATTERN = /^\d{1,16}-\d{1,10}$/;

export function isMessageId(value: string): boolean {
  return MESSAGE_ID_PATTERN.test(value);
}

interface IdParts {
  ms: number;
  seq: number;
}

function parseMessageId(id: string): IdParts {
  const [ms, seq] = id.split('-');
  return { ms: Number(ms), seq: Number(seq) };
}

/** Numeric order; plain string comparison would put "10-0" before "9-0". */
export function compareMessageIds(a: string, b: string): number {
  const x = parseMessageId(a);
  const y = parseMessageId(b);
  return x.ms - y.ms || x.seq - y.seq;
}

/** `ts` of a message: the time its id was minted. */
export function messageIdToIso(id: string): string {
  return new Date(parseMessageId(id).ms).toISOString();
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
