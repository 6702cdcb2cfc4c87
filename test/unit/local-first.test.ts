import { expect } from 'chai';
import { Server } from 'socket.io';
import { Adapter, ClusterAdapter, type ClusterMessage } from 'socket.io-adapter';
import { deliverLocallyFirst, encodeOnlyForRecipients } from '../../src/realtime/local-first.js';

/*
 * A broadcast nobody on this process can receive (a typing event from a room's only
 * member here) is not encoded: Socket.IO's adapter encodes a packet before it looks for
 * recipients. Everything that has a recipient is delivered as before, to exactly the
 * sockets Socket.IO would pick; with the cluster adapter, other processes still get it.
 */

/** A cluster adapter whose publishes are recorded instead of sent. */
class RecordingAdapter extends ClusterAdapter {
  readonly published: ClusterMessage[] = [];
  protected override doPublish(message: ClusterMessage): Promise<string> {
    this.published.push(message);
    return Promise.resolve('');
  }
  protected override doPublishResponse(): Promise<void> {
    return Promise.resolve();
  }
}

/** A server whose sockets are stand-ins that record what reaches them, and a count of the adapter's encodes. */
function harness(adapterClass?: typeof RecordingAdapter) {
  const io = new Server(adapterClass ? { adapter: adapterClass as never } : {});
  const nsp = io.of('/');
  const adapter = nsp.adapter;
  const received: Array<{ sid: string; encoded: unknown[] }> = [];
  let encodes = 0;
  const encode = (adapter as unknown as { _encode: (...args: unknown[]) => unknown[] })._encode.bind(adapter);
  (adapter as unknown as { _encode: typeof encode })._encode = (...args) => {
    encodes += 1;
    return encode(...args);
  };
  /** A socket `sid` of this process in `rooms` (and in its own room, as Socket.IO puts every socket). */
  const socket = async (sid: string, ...rooms: string[]) => {
    nsp.sockets.set(sid, { id: sid, client: { writeToEngine: (encoded: unknown[]) => received.push({ sid, encoded }) } } as never);
    await adapter.addAll(sid, new Set([sid, ...rooms]));
  };
  const to = (...sids: string[]) => received.filter((r) => sids.includes(r.sid)).length;
  return { io, adapter, socket, received, to, encodes: () => encodes };
}

const typing = { roomId: 'r', user: { id: 'u' }, typing: true };

describe('local delivery: a broadcast nobody here receives is not encoded', () => {
  it('in-memory adapter: the sender alone in its room costs no encode; a second member gets it, the sender never', async () => {
    const h = harness();
    encodeOnlyForRecipients(h.adapter as Adapter);
    await h.socket('a', 'room:r');
    h.io.to('room:r').except('a').emit('typing', typing);
    expect(h.encodes()).to.equal(0);
    expect(h.received).to.deep.equal([]);

    await h.socket('b', 'room:r');
    h.io.to('room:r').except('a').emit('typing', typing);
    expect(h.encodes()).to.equal(1);
    expect(h.received.map((r) => r.sid)).to.deep.equal(['b']);
    expect(String(h.received[0]!.encoded[0])).to.contain('"typing"');
    h.io.close();
  });

  it('in-memory adapter: every other broadcast reaches exactly whom Socket.IO picks', async () => {
    const h = harness();
    encodeOnlyForRecipients(h.adapter as Adapter);
    await h.socket('a', 'room:r', 'room:s');
    await h.socket('b', 'room:r');
    await h.socket('c', 'room:s');
    h.io.to('room:r').emit('message:new', { text: 'x' }); // no except: the sender's socket too
    expect([h.to('a'), h.to('b'), h.to('c')]).to.deep.equal([1, 1, 0]);
    h.io.to('room:nobody').emit('message:new', { text: 'y' }); // a room with no socket here
    expect(h.received).to.have.length(2);
    h.io.to('room:r').to('room:s').except('a').emit('typing', typing); // several rooms: the adapter decides
    expect([h.to('a'), h.to('b'), h.to('c')]).to.deep.equal([1, 2, 1]);
    h.io.except('room:s').emit('presence', { online: true }); // everyone but a room's members
    expect([h.to('a'), h.to('b'), h.to('c')]).to.deep.equal([1, 3, 1]);
    h.io.to('room:r').except(['b', 'a']).emit('typing', typing); // every member excluded
    expect(h.received).to.have.length(5);
    h.io.to('room:s').except('room:r').emit('typing', typing); // excluded by another room they are in
    expect([h.to('a'), h.to('b'), h.to('c')]).to.deep.equal([1, 3, 2]);
    h.io.close();
  });

  it('cluster adapter: nobody here means no local encode, yet the other processes still get the broadcast', async () => {
    const h = harness(RecordingAdapter);
    const adapter = h.adapter as RecordingAdapter;
    deliverLocallyFirst(adapter);
    await h.socket('a', 'room:r');
    h.io.to('room:r').except('a').emit('typing', typing);
    expect(h.encodes()).to.equal(0);
    expect(h.received).to.deep.equal([]);
    expect(adapter.published).to.have.length(1);
    expect((adapter.published[0] as { data?: unknown }).data).to.deep.include({ opts: { rooms: ['room:r'], except: ['a'], flags: {} } });

    await h.socket('b', 'room:r');
    h.io.to('room:r').except('a').emit('typing', typing);
    expect(h.received.map((r) => r.sid)).to.deep.equal(['b']);
    expect(adapter.published).to.have.length(2);
    h.io.close();
  });

  it('cluster adapter with peers: typing is encoded once, relayed as it is and written here, never published as an adapter message', async () => {
    const h = harness(RecordingAdapter);
    const adapter = h.adapter as RecordingAdapter;
    const relayed: Array<[string, readonly string[], string]> = [];
    let alone = false;
    deliverLocallyFirst(adapter, { alone: () => alone, relay: (room, except, encoded) => relayed.push([room, except, encoded]) });
    await h.socket('a', 'room:r');
    await h.socket('b', 'room:r');
    h.io.to('room:r').except('a').emit('typing', typing);
    const wire = `2["typing",${JSON.stringify(typing)}]`;
    expect(h.encodes()).to.equal(1);
    expect(relayed).to.deep.equal([['room:r', ['a'], wire]]);
    expect(h.received).to.deep.equal([{ sid: 'b', encoded: [wire] }]);
    expect(adapter.published).to.deep.equal([]);

    // Nobody else anywhere: neither relayed nor encoded.
    alone = true;
    h.io.to('room:r').except(['a', 'b']).emit('typing', typing);
    expect([h.encodes(), relayed.length, h.received.length]).to.deep.equal([1, 1, 1]);
    // Alone, with a recipient here: written here only.
    h.io.to('room:r').except('a').emit('typing', typing);
    expect([h.encodes(), relayed.length, h.received.length]).to.deep.equal([2, 1, 2]);

    // Anything that is not to be lost takes the adapter's way (published as an adapter message), as does typing with binary data.
    alone = false;
    h.io.to('room:r').emit('message:new', { text: 'x' });
    h.io.to('room:r').except('a').emit('typing', { ...typing, blob: Buffer.from('x') });
    expect(adapter.published.map((m) => ((m as { data: { packet: { data: unknown[] } } }).data.packet.data[0]))).to.deep.equal(['message:new', 'typing']);
    expect(relayed).to.have.length(1);
    // And a flag that changes how it travels (volatile) too.
    h.io.to('room:r').except('a').volatile.emit('typing', typing);
    expect(adapter.published).to.have.length(3);
    expect(relayed).to.have.length(1);
    h.io.close();
  });
});
