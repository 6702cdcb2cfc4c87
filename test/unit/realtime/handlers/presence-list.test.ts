import { expect } from 'chai';
import { presenceList } from '../../../../src/realtime/handlers/presence-list.js';
import { schemaCheck, world } from './context.js';

const { bad, dropsIdentity } = schemaCheck(presenceList.schema);

describe('handlers/presence-list', () => {
  it('takes no fields: a missing payload, null and {} are all {}; claimed identity is dropped', () => {
    for (const payload of [undefined, null, {}]) expect(presenceList.schema.parse(payload)).to.deep.equal({});
    for (const payload of ['x', 42, [], true]) bad(payload);
    dropsIdentity({});
  });

  it('answers nobody while nobody is online', async () => {
    const w = await world();
    expect(await w.run(presenceList, {})).to.deep.equal({ online: [] });
  });

  it('answers the online users by username, as public users, skipping ids of users that are gone', async () => {
    const w = await world();
    await w.presence.connect(w.bob.id, 'sid-bob');
    await w.presence.connect('gone-user-id', 'sid-gone');
    await w.presence.connect(w.alice.id, 'sid-alice');
    await w.presence.connect(w.alice.id, 'sid-alice-2');
    expect(await w.run(presenceList, undefined)).to.deep.equal({ online: [w.alice, w.bob] });
    await w.presence.disconnect(w.bob.id, 'sid-bob');
    expect(await w.run(presenceList, null, w.bob)).to.deep.equal({ online: [w.alice] });
    expect(w.sent).to.deep.equal([]);
  });
});
