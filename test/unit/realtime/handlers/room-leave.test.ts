import { expect } from 'chai';
import { roomLeave } from '../../../../src/realtime/handlers/room-leave.js';
import { schemaCheck, world } from './context.js';

const { ok, bad, dropsIdentity } = schemaCheck(roomLeave.schema);

describe('handlers/room-leave', () => {
  it('takes a room id only, and drops any claimed identity', () => {
    ok({ roomId: 'general' });
    for (const payload of [{}, { roomId: '' }, { roomId: 'General' }, { roomId: 'room:general' }, { roomId: 'x'.repeat(33) }]) bad(payload);
    dropsIdentity({ roomId: 'general' });
  });

  it("takes that room, and only that room, out of the socket's rooms (its own rooms stay); emits nothing", async () => {
    const w = await world();
    const rooms = w.rooms();
    rooms.add('room:general').add('room:books');
    const before = [...rooms];
    expect(await w.run(roomLeave, { roomId: 'general' })).to.deep.equal({});
    expect([...rooms]).to.deep.equal(before.filter((r) => r !== 'room:general'));
    expect(rooms.has('room:books')).to.equal(true);
    expect(w.sent).to.deep.equal([]);
  });

  it('answers {} for a room the socket is not in, changing nothing', async () => {
    const w = await world();
    const before = [...w.rooms()];
    expect(await w.run(roomLeave, { roomId: 'books' })).to.deep.equal({});
    expect([...w.rooms()]).to.deep.equal(before);
  });
});
