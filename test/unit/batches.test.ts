import { expect } from 'chai';
import { BatchItemError, createBatcher } from '../../src/store/redis/batches.js';

/*
 * The batcher of store/redis/batches.ts: the calls of one turn of the event loop run
 * together, one batch a group, at most `max` a batch; each call gets its own outcome.
 */

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

/** A batcher over numbers that records its batches; `answer` makes each batch's outcomes. */
function recording(opts: { max?: number; group?: (n: number) => string; answer?: (items: number[]) => Promise<Array<string | BatchItemError>> }) {
  const batches: number[][] = [];
  const call = createBatcher<number, string>({
    group: opts.group ?? (() => ''),
    max: opts.max ?? 100,
    run: (items) => {
      batches.push(items);
      return opts.answer ? opts.answer(items) : Promise.resolve(items.map((n) => `#${n}`));
    },
  });
  return { call, batches };
}

describe('batches (store/redis/batches.ts)', () => {
  it('runs the calls of one turn as one batch, in order, each answered with its own outcome', async () => {
    const { call, batches } = recording({});
    const answers = await Promise.all([1, 2, 3].map((n) => call(n)));
    expect(batches).to.deep.equal([[1, 2, 3]]);
    expect(answers).to.deep.equal(['#1', '#2', '#3']);
  });

  it('runs the calls of a later turn as a batch of their own', async () => {
    const { call, batches } = recording({});
    const first = call(1);
    await nextTurn();
    const second = call(2);
    expect(await Promise.all([first, second])).to.deep.equal(['#1', '#2']);
    expect(batches).to.deep.equal([[1], [2]]);
  });

  it('also takes calls made from a promise callback in the same turn', async () => {
    const { call, batches } = recording({});
    const later = Promise.resolve().then(() => call(2));
    const answers = await Promise.all([call(1), later]);
    expect(answers).to.deep.equal(['#1', '#2']);
    expect(batches).to.deep.equal([[1, 2]]);
  });

  it('never puts calls of different groups in one batch', async () => {
    const { call, batches } = recording({ group: (n) => (n % 2 ? 'odd' : 'even') });
    const answers = await Promise.all([1, 2, 3, 4, 5].map((n) => call(n)));
    expect(answers).to.deep.equal(['#1', '#2', '#3', '#4', '#5']);
    expect(batches).to.deep.equal([
      [1, 3, 5],
      [2, 4],
    ]);
  });

  it('splits a turn of more than `max` calls into batches of at most `max`', async () => {
    const { call, batches } = recording({ max: 2 });
    const answers = await Promise.all([1, 2, 3, 4, 5].map((n) => call(n)));
    expect(answers).to.deep.equal(['#1', '#2', '#3', '#4', '#5']);
    expect(batches).to.deep.equal([[1, 2], [3, 4], [5]]);
  });

  it("rejects only the call whose outcome is a BatchItemError: the others of its batch stand", async () => {
    const { call } = recording({ answer: async (items) => items.map((n) => (n === 2 ? new BatchItemError(`no ${n}`) : `#${n}`)) });
    const settled = await Promise.allSettled([1, 2, 3].map((n) => call(n)));
    expect(settled.map((s) => s.status)).to.deep.equal(['fulfilled', 'rejected', 'fulfilled']);
    const rejected = settled[1] as PromiseRejectedResult;
    expect(rejected.reason).to.be.instanceOf(BatchItemError).with.property('message', 'no 2');
  });

  it('rejects every call of a batch that fails, as it failed, and only that batch', async () => {
    const boom = new Error('connection lost');
    const { call } = recording({ group: (n) => String(n % 2), answer: async (items) => (items[0] === 1 ? Promise.reject(boom) : items.map((n) => `#${n}`)) });
    const settled = await Promise.allSettled([1, 2, 3].map((n) => call(n)));
    expect(settled.map((s) => (s.status === 'rejected' ? s.reason : s.value))).to.deep.equal([boom, '#2', boom]);
  });

  it('rejects every call of a batch whose run throws at once, or answers the wrong number of outcomes', async () => {
    const thrown = createBatcher<number, string>({
      group: () => '',
      max: 10,
      run: () => {
        throw new Error('bad arguments');
      },
    });
    const short = createBatcher<number, string>({ group: () => '', max: 10, run: async () => ['only one'] });
    const settled = await Promise.allSettled([thrown(1), thrown(2), short(1), short(2)]);
    expect(settled.map((s) => s.status)).to.deep.equal(['rejected', 'rejected', 'rejected', 'rejected']);
    expect((settled[0] as PromiseRejectedResult).reason).to.have.property('message', 'bad arguments');
    expect((settled[2] as PromiseRejectedResult).reason).to.have.property('message', 'a batch of 2 calls answered 1 outcomes');
  });

  it('refuses a `max` below one', () => {
    for (const max of [0, -1, 1.5, Number.NaN]) expect(() => createBatcher({ group: () => '', max, run: async () => [] })).to.throw(RangeError);
  });
});
