import { expect } from 'chai';
import { AppError } from '../../../../src/errors.js';
import { typing } from '../../../../src/realtime/handlers/typing.js';
import { expectAppError } from '../../helpers/errors.js';
import { endedCtx, schemaCheck, world } from './context.js';

const { ok, bad, dropsIdentity } = schemaCheck(typing.schema);

describe('handlers/typing', () => {
  it('takes a room id and a boolean, and drops any claimed identity', () => {
    ok({ roomId: 'general', typing: false });
    for (const payload of [{ roomId: 'general' }, { roomId: 'general', typing: 'yes' }, { roomId: 'general', typing: 1 }, { typing: true }]) bad(payload);
    dropsIdentity({ roomId: 'general', typing: true });
  });

  it("tells the room's other members, naming the session's user (not the payload's)", async () => {
    const w = await world();
    w.rooms(w.bob).add('room:general');
    const claimed = { roomId: 'general', typing: true, user: w.alice };
    expect(await typing.handle(claimed, w.ctx(w.bob))).to.deep.equal({});
    await w.run(typing, { roomId: 'general', typing: false }, w.bob);
    expect(w.sent).to.deep.equal([
      { to: 'socket:room:general', event: 'typing', payload: { roomId: 'general', user: w.bob, typing: true } },
      { to: 'socket:room:general', event: 'typing', payload: { roomId: 'general', user: w.bob, typing: false } },
    ]);
  });

  it('answers at once, without a promise, while the process holds a point of the limit; waits only to renew it', async () => {
    const w = await world({ limits: { typing: { points: 4, durationSeconds: 60 } } });
    w.rooms().add('room:general');
    const first = typing.handle({ roomId: 'general', typing: true }, w.ctx());
    expect(first).to.be.instanceOf(Promise); // nothing held yet: the store is asked (2 points reserved)
    expect(w.sent).to.have.length(0);
    expect(await first).to.deep.equal({});
    expect(typing.handle({ roomId: 'general', typing: false }, w.ctx())).to.deep.equal({});
    expect(w.sent).to.have.length(2); // told before it returned
    const renewed = typing.handle({ roomId: 'general', typing: true }, w.ctx());
    expect(renewed).to.be.instanceOf(Promise);
    await renewed;
    expect(await typing.handle({ roomId: 'general', typing: false }, w.ctx())).to.deep.equal({}); // the last point, asked for
    await expectAppError(() => typing.handle({ roomId: 'general', typing: true }, w.ctx()), 'rate_limited'); // the store has none left
    // Known now: refused at once, without asking again; nothing sent.
    expect(() => typing.handle({ roomId: 'general', typing: true }, w.ctx())).to.throw(AppError).with.property('code', 'rate_limited');
    expect(w.sent).to.have.length(4);
  });

  it('refuses a room the socket has not joined (forbidden), sending nothing', async () => {
    const w = await world();
    w.rooms().add('room:books');
    await expectAppError(w.run(typing, { roomId: 'general', typing: true }), 'forbidden');
    expect(w.sent).to.deep.equal([]);
  });

  it('counts against the typing limit of the user: beyond it, rate_limited and nothing sent', async () => {
    const w = await world({ limits: { typing: { points: 2, durationSeconds: 60 } } });
    w.rooms().add('room:general');
    await w.run(typing, { roomId: 'general', typing: true });
    await w.run(typing, { roomId: 'general', typing: false });
    await expectAppError(w.run(typing, { roomId: 'general', typing: true }), 'rate_limited');
    expect(w.sent.map((s) => (s.payload as { typing: boolean }).typing)).to.deep.equal([true, false]);
  });

  it('sends nothing for a session that ended while the event waited (unauthorized)', async () => {
    const w = await world();
    w.rooms().add('room:general');
    await expectAppError(() => typing.handle({ roomId: 'general', typing: true }, endedCtx(w)), 'unauthorized');
    expect(w.sent).to.deep.equal([]);
  });
});
