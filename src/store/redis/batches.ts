/**
 * Calls made in one turn of the event loop, run together: the store's way of sending
 * Redis one script call for many posts instead of one each.
 *
 * A busy process reads many sockets' events in one poll phase of the loop, and each of
 * them posts; node-redis already writes every command queued in that phase in one write
 * (at setImmediate). The batcher goes one step further: it holds the calls of the phase
 * and hands them to `run` together at setImmediate, once per group, so that they become
 * one command. A quiet process pays for it with one more turn of the loop before the
 * write; a busy one saves, per call, what a command costs Redis beyond its work (in a
 * script, most of it: `npm run bench:store`).
 */

/** A call's own failure, as `run` answers it: only that call rejects; the others of its batch stand. */
export class BatchItemError extends Error {
  override name = 'BatchItemError';
}

export interface BatcherOptions<I, O> {
  /**
   * Calls of one group may go in one batch; of different groups, never (on a Redis
   * Cluster: the keys of one script must share a slot). One group for all: `() => ''`.
   */
  group: (item: I) => string;
  /** The most calls in one batch: more in one turn become several batches. */
  max: number;
  /**
   * Runs a batch: its outcomes in the items' order, each a result or a BatchItemError
   * (that call's failure alone). A rejection fails every call of the batch.
   */
  run: (items: I[]) => Promise<Array<O | BatchItemError>>;
}

interface Pending<I, O> {
  item: I;
  resolve: (value: O) => void;
  reject: (err: unknown) => void;
}

/**
 * Returns the batched call: it resolves or rejects as the item's outcome in its batch.
 * Calls of one group keep their order within their batch, and batches go in the order
 * of their groups' first calls.
 */
export function createBatcher<I, O>(opts: BatcherOptions<I, O>): (item: I) => Promise<O> {
  if (!Number.isInteger(opts.max) || opts.max < 1) throw new RangeError(`a batch holds at least one call, not ${opts.max}`);
  let groups = new Map<string, Array<Pending<I, O>>>();
  let scheduled = false;

  function settle(batch: Array<Pending<I, O>>, outcomes: Array<O | BatchItemError>) {
    if (outcomes.length !== batch.length) {
      const err = new Error(`a batch of ${batch.length} calls answered ${outcomes.length} outcomes`);
      for (const call of batch) call.reject(err);
      return;
    }
    batch.forEach((call, i) => {
      const outcome = outcomes[i]!;
      if (outcome instanceof BatchItemError) call.reject(outcome);
      else call.resolve(outcome);
    });
  }

  function runBatch(batch: Array<Pending<I, O>>) {
    let running: Promise<Array<O | BatchItemError>>;
    try {
      running = opts.run(batch.map((call) => call.item));
    } catch (err) {
      running = Promise.reject(err);
    }
    running.then(
      (outcomes) => settle(batch, outcomes),
      (err: unknown) => {
        for (const call of batch) call.reject(err);
      },
    );
  }

  function flush() {
    scheduled = false;
    const due = groups;
    groups = new Map();
    for (const calls of due.values()) {
      for (let at = 0; at < calls.length; at += opts.max) runBatch(calls.slice(at, at + opts.max));
    }
  }

  return (item) =>
    new Promise<O>((resolve, reject) => {
      const key = opts.group(item);
      const calls = groups.get(key);
      if (calls) calls.push({ item, resolve, reject });
      else groups.set(key, [{ item, resolve, reject }]);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    });
}
