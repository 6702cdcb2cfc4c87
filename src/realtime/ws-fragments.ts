import { createRequire } from 'node:module';

/**
 * What this module touches of ws's Receiver (lib/receiver.js, ws 8): private, so checked
 * before it is changed.
 */
interface ReceiverInternals {
  /** The frames of the message being received; a new array once a message is complete. */
  _fragments: unknown[];
  /** 'fragments' hands `_fragments` itself to the listeners as a binary message's data. */
  _binaryType: string;
  /** Called after each data frame: emits the message once its last frame is in. */
  dataMessage(cb: unknown): void;
}

type ReceiverClass = { prototype: ReceiverInternals & { [PATCHED]?: true } };

const PATCHED = Symbol.for('chat-server: ws message frames released');

/**
 * ws keeps a message's frames in an array made for the message (`this._fragments = []`
 * once the previous message is out), which lives until the connection's next message
 * arrives: a second later, or an hour, on a socket that is mostly idle. V8 sees that
 * array literal's objects outlive young-generation collections, and from then on
 * allocates every one of them straight in the old generation ("allocation-site
 * pretenuring"). An old array that held a message's frames still points at them after
 * the message is done, and a young-generation collection keeps whatever an old object
 * points at, dead or not, until the next full collection: from then on every frame of
 * every message (its buffer views, the chunk read from the socket) is copied twice and
 * promoted, about 300 bytes a message. The bench's acked inbound events showed it in
 * three runs out of four: 470 KB promoted a young collection (bare Socket.IO: 300 B),
 * pauses 3.4 ms instead of 1 ms, and a full collection every second and a half; which
 * run falls into it depends on how long sockets waited during their handshakes.
 *
 * This empties the array once its message has been emitted, so that nothing old points
 * at the frames, wherever V8 put the array: the frames die young again. Not when the
 * array itself was handed out as the message (binaryType 'fragments', which engine.io
 * never sets). Idempotent; answers false, changing nothing, when ws's Receiver is not
 * what this was written against.
 */
export function releaseMessageFrames(Receiver: ReceiverClass): boolean {
  const proto = Receiver.prototype;
  if (proto[PATCHED]) return true;
  const dataMessage = proto.dataMessage;
  if (typeof dataMessage !== 'function') return false;
  proto.dataMessage = function releasing(this: ReceiverInternals, cb: unknown) {
    const frames = this._fragments;
    dataMessage.call(this, cb);
    // A new array means the message is complete: its frames have been copied or handed on.
    if (frames !== this._fragments && Array.isArray(frames) && this._binaryType !== 'fragments') frames.length = 0;
  };
  proto[PATCHED] = true;
  return true;
}

/** ws's Receiver as engine.io loads it (the copy engine.io resolves, not whichever `ws` is hoisted). */
export function engineReceiver(): ReceiverClass {
  const fromHere = createRequire(import.meta.url);
  const fromEngine = createRequire(fromHere.resolve('engine.io'));
  return (fromEngine('ws') as { Receiver: ReceiverClass }).Receiver;
}
