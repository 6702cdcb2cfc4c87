import { expect } from 'chai';
import type { BusMessage, LiveBus } from 'socket.io-live-session';
import { memoryBus } from 'socket.io-live-session';
import type { StoredUser, UserStore } from '../../src/chat/ports.js';
import { knownUsers } from '../../src/realtime/known-users.js';

/*
 * The records kept for the users with a socket here (realtime/known-users.ts), which
 * spare the CONNECT of their next socket a read. What must hold: a kept record serves
 * only a user with a socket here; a change of the user (UserChanged on the bus) is never
 * answered from a record read before it; while the bus is cut off, nothing is kept.
 */

/** A user store of one user whose record the test changes; counts the reads, and can hold one back. */
function oneUser() {
  let record: StoredUser = { id: 'u1', username: 'ann', displayName: 'Ann', passwordHash: 'h', credentialVersion: 1 };
  let reads = 0;
  let gate: Promise<void> | undefined;
  const users = {
    async findById(id: string) {
      reads++;
      const answer = id === record.id ? { ...record } : null;
      if (gate) await gate;
      return answer;
    },
  } as unknown as UserStore;
  return {
    users,
    reads: () => reads,
    change: (fields: Partial<StoredUser>) => (record = { ...record, ...fields }),
    /** The next reads answer what they read now, once `open` is called. */
    holdReads() {
      let open!: () => void;
      gate = new Promise((resolve) => (open = resolve));
      return () => {
        gate = undefined;
        open();
      };
    },
  };
}

/** A bus whose messages, cut-offs and resyncs the test sends, synchronously. */
function testBus() {
  const listeners: Array<(m: BusMessage) => void> = [];
  const cutOffs: Array<() => void> = [];
  const resyncs: Array<() => void> = [];
  const bus = {
    ...memoryBus(),
    subscribe: (l: (m: BusMessage) => void) => (listeners.push(l), () => undefined),
    onCutOff: (l: () => void) => void cutOffs.push(l),
    onResync: (l: () => void) => void resyncs.push(l),
  } as LiveBus;
  return {
    bus,
    send: (m: BusMessage) => listeners.forEach((l) => l(m)),
    cutOff: () => cutOffs.forEach((l) => l()),
    resync: () => resyncs.forEach((l) => l()),
  };
}

describe('known users (the records kept for users with a socket here)', () => {
  it('reads for a user with no socket here, and answers their next socket from the record kept', async () => {
    const u = oneUser();
    const known = knownUsers(u.users, testBus().bus);
    expect((await known.find('u1', false))?.displayName).to.equal('Ann');
    expect((await known.find('u1', true))?.displayName).to.equal('Ann');
    expect((await known.find('u1', true))?.displayName).to.equal('Ann');
    expect(u.reads()).to.equal(1);
    // No socket of the user here (whatever is kept): read again.
    await known.find('u1', false);
    expect(u.reads()).to.equal(2);
    expect(await known.find('nobody', true)).to.equal(null);
    expect(known.size, 'nothing kept for a user that does not exist').to.equal(1);
  });

  it('keeps no password hash', async () => {
    const u = oneUser();
    const known = knownUsers(u.users, testBus().bus);
    const found = await known.find('u1', false);
    expect(found).to.deep.equal({ id: 'u1', username: 'ann', displayName: 'Ann', credentialVersion: 1 });
    expect(await known.find('u1', true)).to.not.have.property('passwordHash');
  });

  it('forgets a user whose record changed (UserChanged on the bus), and a user with no socket left', async () => {
    const u = oneUser();
    const t = testBus();
    const known = knownUsers(u.users, t.bus);
    await known.find('u1', false);
    u.change({ credentialVersion: 2 });
    t.send({ t: 'user', uid: 'u1' });
    expect((await known.find('u1', true))?.credentialVersion, 'the changed record, read').to.equal(2);
    expect(u.reads()).to.equal(2);
    known.forget('u1');
    expect(known.size).to.equal(0);
  });

  it('never keeps a record read before a change that arrived while the read was in flight', async () => {
    const u = oneUser();
    const t = testBus();
    const known = knownUsers(u.users, t.bus);
    const open = u.holdReads();
    const inFlight = known.find('u1', false); // reads version 1
    u.change({ credentialVersion: 2 });
    t.send({ t: 'user', uid: 'u1' });
    open();
    expect((await inFlight)?.credentialVersion, 'the read itself answers what it read').to.equal(1);
    expect(known.size, 'but it is not kept').to.equal(0);
    expect((await known.find('u1', true))?.credentialVersion).to.equal(2);
  });

  it('keeps nothing while the bus is cut off (changes may be missed), and starts again after its resync', async () => {
    const u = oneUser();
    const t = testBus();
    const known = knownUsers(u.users, t.bus);
    await known.find('u1', false);
    t.cutOff();
    expect(known.size).to.equal(0);
    await known.find('u1', false);
    await known.find('u1', true);
    expect(u.reads(), 'every find reads').to.equal(3);
    t.resync();
    await known.find('u1', false);
    await known.find('u1', true);
    expect(u.reads()).to.equal(4);
  });
});
