import { expect } from 'chai';
import { dmHistory } from '../../../../src/realtime/handlers/dm-history.js';
import { expectAppError } from '../../helpers/errors.js';
import { dm, post, schemaCheck, world } from './context.js';

const { ok, bad, dropsIdentity } = schemaCheck(dmHistory.schema);

describe('handlers/dm-history', () => {
  it('takes a username with optional before and limit (1-100), and drops any claimed identity', () => {
    ok({ with: 'bob', before: '5-1', limit: 100 });
    for (const other of ['bo', 'Bob', 'b-ob']) bad({ with: other });
    for (const limit of [0, 101, 1.5]) bad({ with: 'bob', limit });
    bad({ with: 'bob', before: 'x' });
    bad({});
    dropsIdentity({ with: 'bob', limit: 2 });
  });

  it("answers the pair's messages both ways, oldest first, the same for both of them, and nobody else's", async () => {
    const w = await world();
    const a1 = await dm(w, w.alice, w.bob, 'hi bob');
    const noteA = await dm(w, w.alice, w.alice, 'note to self');
    const b1 = await dm(w, w.bob, w.alice, 'hi alice');
    await dm(w, w.bob, w.bob, "bob's note");
    await post(w, 'general', 'in a room');
    const pair = { messages: [a1, b1], hasMore: false };
    expect(await w.run(dmHistory, { with: 'bob' })).to.deep.equal(pair);
    expect(await w.run(dmHistory, { with: 'alice' }, w.bob)).to.deep.equal(pair);
    expect(await w.run(dmHistory, { with: 'alice' })).to.deep.equal({ messages: [noteA], hasMore: false });
    expect(w.sent).to.deep.equal([]);
  });

  it('pages back with limit and before', async () => {
    const w = await world();
    const [m1, m2, m3] = [await dm(w, w.alice, w.bob, '1'), await dm(w, w.bob, w.alice, '2'), await dm(w, w.alice, w.bob, '3')];
    expect(await w.run(dmHistory, { with: 'bob', limit: 2 })).to.deep.equal({ messages: [m2, m3], hasMore: true });
    expect(await w.run(dmHistory, { with: 'bob', before: m2.id })).to.deep.equal({ messages: [m1], hasMore: false });
  });

  it('refuses an unknown user (not_found)', async () => {
    const w = await world();
    await expectAppError(w.run(dmHistory, { with: 'nobody' }), 'not_found');
  });
});
