import { createRequire } from 'node:module';
import type * as SocketIoParser from 'socket.io-parser';
import type { Packet } from 'socket.io-parser';

/**
 * socket.io-parser as Socket.IO itself loads it: `require` gives its plain build, where
 * `import` would give its debug build (its exports map sends Node's `import` to
 * `build/esm-debug`), which calls `debug()` on every packet encoded and decoded, and is a
 * second copy of the parser beside the one Socket.IO loaded.
 */
const parser = createRequire(import.meta.url)('socket.io-parser') as typeof SocketIoParser;
const { Decoder, Encoder, PacketType } = parser;

/** The event a malformed binary packet is turned into, so that it can be answered. */
export const MALFORMED_EVENT = '__malformed__';

interface Reconstructing {
  reconPack?: Packet;
  finishedReconstruction(): void;
}

/**
 * Socket.IO's decoder throws on a packet it cannot decode (e.g. a forged
 * `{_placeholder:true, num:N}` next to real binary data), and Socket.IO then
 * closes the whole connection. A malformed payload must never disconnect
 * anything, so this decoder drops such a packet and resets its state instead;
 * when the packet asked for an acknowledgement, it is handed on as the event
 * MALFORMED_EVENT so the handler layer can ack `bad_request`.
 */
class TolerantDecoder extends Decoder {
  override add(obj: unknown): void {
    try {
      super.add(obj);
    } catch {
      const self = this as unknown as { reconstructor: Reconstructing | null };
      const pending = self.reconstructor?.reconPack;
      self.reconstructor?.finishedReconstruction();
      self.reconstructor = null;
      if (pending?.id !== undefined) {
        this.emitReserved('decoded', { type: PacketType.EVENT, nsp: pending.nsp, id: pending.id, data: [MALFORMED_EVENT] });
      }
    }
  }
}

export const tolerantParser = { Encoder, Decoder: TolerantDecoder };
