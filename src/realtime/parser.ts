import { Decoder, Encoder, PacketType, type Packet } from 'socket.io-parser';

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
