import { expect } from 'chai';
import { EventEmitter } from 'node:events';
import { Adapter } from 'socket.io-adapter';
import { memoryBus, type LiveSession } from 'socket.io-live-session';
import type { UserStore } from '../../../src/chat/ports.js';
import { DEFAULT_LIMITS } from '../../../src/config.js';
import { createLogger } from '../../../src/logger.js';
import { createChatRealtime } from '../../../src/realtime/chat.js';
import type { AppSocket } from '../../../src/realtime/events.js';
import { HandshakeRefusal, type Undo } from '../../../src/realtime/io.js';
import { socketRooms } from '../../../src/realtime/rooms.js';
import { createLimits } from '../../../src/security/limits.js';
import type { ChatSession } from '../../../src/session/types.js';
import { createMemoryChatStore } from '../../../src/store/memory/chat.js';
import { createMemoryPresenceStore } from '../../../src/store/memory/presence.js';
import { memoryQuota } from '../../../src/store/memory/quota.js';
import { createMemoryRoomChannels } from '../../../src/store/memory/room-channels.js';
import { createMemoryUserStore } from '../../../src/store/memory/users.js';
import { RateLimiterMemory } from 'rate-limiter-flexible';

/*
 * The chat's admission of a socket at CONNECT (realtime/chat.ts), on the in-memory stores
 * and Socket.IO's own in-memory adapter. What must hold: a user's first socket here reads
 * their record (a promise); their next one, while one is here, is admitted in the tick its
 * CONNECT arrived (no promise, no read) with exactly what the reading admission records:
 * the presence count, the user room, the refusal past the cap; whatever the kept record
 * cannot vouch for (a stale login) goes the reading way, and is refused there.
 */

async function setup(opts: { maxSocketsPerUser?: number } = {}) {
  const base = createMemoryUserStore();
  const ann = (await base.create({ username: 'ann', displayName: 'Ann', passwordHash: 'x' }))!;
  let reads = 0;
  const users = new Proxy(base, {
    get: (target, key) => (key === 'findById' ? (id: string) => (reads++, target.findById(id)) : Reflect.get(target, key)),
  }) as UserStore;
  const presence = createMemoryPresenceStore();
  const sessions = new Map<string, ChatSession>();
  const live = { session: (socket: AppSocket) => sessions.get(socket.id) ?? null, bus: memoryBus(), handle: () => 'h' } as unknown as LiveSession;
  const chat = createChatRealtime({
    users,
    chat: createMemoryChatStore({ historyLimit: 10 }),
    presence,
    presenceUpkeep: undefined,
    roomChannels: createMemoryRoomChannels(),
    roomPeers: undefined,
    subscriptions: undefined,
    live,
    limits: createLimits(
      { limiter: ({ name, points, durationSeconds }) => new RateLimiterMemory({ keyPrefix: name, points, duration: durationSeconds }), quota: memoryQuota },
      DEFAULT_LIMITS,
    ),
    presenceGraceMs: 0,
    maxSocketsPerUser: opts.maxSocketsPerUser ?? 0,
    log: createLogger('silent'),
  });
  const adapter = new Adapter({ server: { encoder: undefined } } as never);
  const userRoom = socketRooms.user(ann.id);
  /** A socket of ann's session (or of `session`), as Socket.IO hands it to the middlewares. */
  const socket = (id: string, session: ChatSession = { passport: { user: ann.id }, credentialVersion: ann.credentialVersion }) => {
    sessions.set(id, session);
    return Object.assign(new EventEmitter(), {
      id,
      data: {},
      nsp: { adapter },
      conn: { readyState: 'open' },
      join: (room: string) => adapter.addAll(id, new Set([room])),
    }) as unknown as AppSocket;
  };
  /** What Socket.IO does when a socket goes: its rooms are left, then `disconnect` is emitted on it. */
  const disconnect = (s: AppSocket) => {
    adapter.delAll(s.id);
    (s as unknown as EventEmitter).emit('disconnect', 'client namespace disconnect');
  };
  const inUserRoom = () => [...(adapter.rooms.get(userRoom) ?? [])].sort();
  return { chat, presence, ann, socket, disconnect, inUserRoom, reads: () => reads };
}

const settled = () => new Promise((resolve) => setImmediate(resolve));

describe('realtime/chat admission', () => {
  it("reads for a user's first socket here, and admits the next in the CONNECT's tick: no promise, no read", async () => {
    const t = await setup();
    const first = t.chat.admit(t.socket('s1'));
    expect(first, 'the first socket reads the user').to.be.instanceOf(Promise);
    await first;
    expect(t.reads()).to.equal(1);
    expect(t.inUserRoom()).to.deep.equal(['s1']);

    const s2 = t.socket('s2');
    const second = t.chat.admit(s2);
    expect(second, 'answered at once').to.be.a('function');
    expect(t.reads(), 'from the record kept since the first').to.equal(1);
    expect(s2.data.user).to.deep.equal({ id: t.ann.id, username: 'ann', displayName: 'Ann' });
    expect(s2.data.inFlight).to.equal(0);
    expect(t.inUserRoom(), 'in the user room already').to.deep.equal(['s1', 's2']);
    // Presence counted both: the first to leave is not the last.
    expect(await t.presence.disconnect(t.ann.id, 's1')).to.equal('none');
    expect(await t.presence.disconnect(t.ann.id, 's2')).to.equal('offline');
  });

  it('undoes a socket admitted at once that never connects: only its own presence record', async () => {
    const t = await setup();
    await t.chat.admit(t.socket('s1'));
    const undo = t.chat.admit(t.socket('s2')) as Undo;
    undo();
    await settled();
    expect(await t.presence.disconnect(t.ann.id, 's1'), 's2 is forgotten: s1 is the last').to.equal('offline');
  });

  it('refuses one socket too many at once, naming the user, and records nothing for it', async () => {
    const t = await setup({ maxSocketsPerUser: 2 });
    await t.chat.admit(t.socket('s1'));
    t.chat.admit(t.socket('s2'));
    const s3 = t.socket('s3');
    let thrown: unknown;
    try {
      t.chat.admit(s3);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).to.be.instanceOf(HandshakeRefusal);
    expect((thrown as HandshakeRefusal).code).to.equal('too_many_connections');
    expect(s3.data.user?.username, 'for the audit line').to.equal('ann');
    expect(t.inUserRoom()).to.deep.equal(['s1', 's2']);
    expect(await t.presence.disconnect(t.ann.id, 's3')).to.equal('none');
  });

  it('sends a login the kept record cannot vouch for (a stale credential version) the reading way, which refuses it', async () => {
    const t = await setup();
    await t.chat.admit(t.socket('s1'));
    const stale = t.socket('s2', { passport: { user: t.ann.id }, credentialVersion: t.ann.credentialVersion + 1 });
    const admission = t.chat.admit(stale);
    expect(admission).to.be.instanceOf(Promise);
    const err = await (admission as Promise<Undo>).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as HandshakeRefusal).code).to.equal('unauthorized');
    expect(t.inUserRoom()).to.deep.equal(['s1']);
    await settled();
    expect(await t.presence.disconnect(t.ann.id, 's1'), 'nothing recorded for the refused one').to.equal('offline');
  });

  it("shares one disconnect listener per concern across sockets, and the user's last socket going forgets them", async () => {
    const t = await setup();
    const s1 = t.socket('s1');
    await t.chat.admit(s1);
    t.chat.onConnect(s1);
    const s2 = t.socket('s2');
    t.chat.admit(s2);
    t.chat.onConnect(s2);
    // No closure per socket: an idle socket's heap holds none of these.
    expect(s2.listeners('disconnect')).to.have.lengthOf(2).and.deep.equal(s1.listeners('disconnect'));

    t.disconnect(s1);
    await settled();
    expect(await t.presence.online(), 's2 is still here').to.deep.equal([t.ann.id]);
    const s3 = t.socket('s3');
    expect(t.chat.admit(s3), 'the record is kept while s2 is here: answered at once').to.be.a('function');
    t.chat.onConnect(s3);
    t.disconnect(s3);
    await settled();

    t.disconnect(s2);
    await settled();
    expect(await t.presence.online(), "the last socket's disconnect recorded them offline").to.deep.equal([]);
    expect(t.chat.admit(t.socket('s4')), 'the record was forgotten: read again').to.be.instanceOf(Promise);
  });

  it('refuses a socket with no user in its session at once', async () => {
    const t = await setup();
    expect(() => t.chat.admit(t.socket('s1', {} as ChatSession)))
      .to.throw(HandshakeRefusal)
      .with.property('code', 'unauthorized');
  });
});
