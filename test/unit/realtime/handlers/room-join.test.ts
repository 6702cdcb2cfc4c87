import { expect } from 'chai';
import { generalRoom } from '../../../../src/chat/policy.js';
import { createRoom } from '../../../../src/chat/rooms.js';
import { roomJoin } from '../../../../src/realtime/handlers/room-join.js';
import { expectAppError } from '../../helpers/errors.js';
import { post, schemaCheck, world, type World } from './context.js';

const { ok, bad, dropsIdentity } = schemaCheck(roomJoin.schema);

/** Alice's context, recording the rooms joined (then running `meanwhile`, e.g. a removal racing the join). */
function tracked(w: World, meanwhile: () => Promise<void> = async () => undefined) {
  const ctx = w.ctx();
  const joined: string[] = [];
  ctx.joinHeld = async (socket, room) => {
    joined.push(room);
    await socket.join(room);
    await meanwhile();
  };
  return { ctx, joined };
}

describe('handlers/room-join', () => {
  it('takes a room id and an optional message id `since`, and drops any claimed identity', () => {
    ok({ roomId: 'general', since: '1732200000000-0' });
    for (const payload of [{}, { roomId: 'General' }, { roomId: 'general', since: 'x' }, { roomId: 'general', since: 5 }]) bad(payload);
    dropsIdentity({ roomId: 'general', since: '1-0' });
  });

  it('joins room:<id> and answers the room with its latest page; records caughtUp and lastRoomId once', async () => {
    const w = await world();
    const [m1, m2] = [await post(w, 'general', 'one'), await post(w, 'general', 'two')];
    expect(await w.run(roomJoin, { roomId: 'general' })).to.deep.equal({ room: generalRoom(), history: [m1, m2], hasMore: false });
    expect(w.rooms().has('room:general')).to.equal(true);
    expect(w.caughtUp).to.deep.equal([['room:general', 'room:general', m2.id]]);
    expect([w.sessions.get(w.alice.id)?.lastRoomId, w.writes]).to.deep.equal(['general', 1]);
    await w.run(roomJoin, { roomId: 'general' });
    expect(w.writes, 'a rejoin writes nothing').to.equal(1);
    expect(w.sent).to.deep.equal([]);
  });

  it('writes no session when either the admitted or the live session already names the room', async () => {
    const w = await world();
    const stale = { passport: { user: w.alice.id } };
    w.sessions.set(w.alice.id, { ...stale, lastRoomId: 'general' });
    const admittedNamesIt = w.ctx();
    w.sessions.set(w.alice.id, stale);
    await roomJoin.handle({ roomId: 'general' }, admittedNamesIt); // the fast path: no update at all
    const liveNamesIt = w.ctx();
    w.sessions.set(w.alice.id, { ...stale, lastRoomId: 'general' });
    await roomJoin.handle({ roomId: 'general' }, liveNamesIt); // the update declines
    expect(w.writes).to.equal(0);
  });

  it('answers the latest 50 with hasMore, or the gap after `since` (caughtUp at its end, or at `since`)', async () => {
    const w = await world();
    const all = [];
    for (let i = 0; i < 51; i++) all.push(await post(w, 'general', `m${i}`));
    expect(await w.run(roomJoin, { roomId: 'general' })).to.deep.include({ history: all.slice(1), hasMore: true });
    expect(await w.run(roomJoin, { roomId: 'general', since: all[48]!.id })).to.deep.include({ history: all.slice(49), hasMore: false });
    expect((await w.run(roomJoin, { roomId: 'general', since: all[50]!.id })).history).to.deep.equal([]);
    expect(w.caughtUp.map(([, , lastId]) => lastId)).to.deep.equal([all[50]!.id, all[50]!.id, all[50]!.id]);
  });

  it("refuses someone else's private room (forbidden) and an unknown one (not_found) before joining", async () => {
    const w = await world();
    await createRoom(w.chat, w.bob, { id: 'secret', private: true });
    const { ctx, joined } = tracked(w);
    await expectAppError(() => roomJoin.handle({ roomId: 'secret' }, ctx), 'forbidden');
    await expectAppError(() => roomJoin.handle({ roomId: 'nowhere' }, ctx), 'not_found');
    expect(joined, 'never joined, not even for a moment').to.deep.equal([]);
    expect([w.caughtUp, w.writes]).to.deep.equal([[], 0]);
    await w.run(roomJoin, { roomId: 'secret' }, w.bob);
    expect(w.rooms(w.bob).has('room:secret'), 'the owner gets in').to.equal(true);
  });

  it('leaves the room again when access is lost while joining', async () => {
    const w = await world();
    await createRoom(w.chat, w.bob, { id: 'secret', private: true });
    await w.chat.addMember('secret', 'alice');
    const { ctx, joined } = tracked(w, () => w.chat.removeMember('secret', 'alice'));
    await expectAppError(() => roomJoin.handle({ roomId: 'secret' }, ctx), 'forbidden');
    expect([joined, w.rooms().has('room:secret')]).to.deep.equal([['room:secret'], false]);
    expect(w.caughtUp).to.deep.equal([]);
  });
});
