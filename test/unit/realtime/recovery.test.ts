import { EventEmitter } from 'node:events';
import { expect } from 'chai';
import type { ChatStore } from '../../../src/chat/ports.js';
import type { Message } from '../../../src/chat/types.js';
import { createLogger } from '../../../src/logger.js';
import type { AppServer } from '../../../src/realtime/events.js';
import type { ConnectionHealth } from '../../../src/realtime/ports.js';
import { createRecovery } from '../../../src/realtime/recovery.js';
import { waitFor } from '../../helpers/chat.js';

/*
 * The catch-up after a Redis blip (realtime/recovery.ts), with a store that is not
 * back yet when the subscriber is: its first reads fail, and the catch-up tries again
 * instead of leaving the room's sockets with a gap.
 */

const user = { id: 'u1', username: 'alice', displayName: 'Alice' };
const stored: Message = { id: '2000-0', ts: new Date(2000).toISOString(), roomId: 'r1', user, text: 'sent while the subscriber was away' };

function world(failures: number) {
  const emitted: Array<{ room: string; event: string; message: Message }> = [];
  const io = { local: { to: (room: string) => ({ emit: (event: string, message: Message) => void emitted.push({ room, event, message }) }) } } as unknown as AppServer;
  let reads = 0;
  const chat = {
    async page() {
      reads++;
      if (reads <= failures) throw new Error('The client is closed');
      return [stored];
    },
  } as unknown as ChatStore;
  const health = new EventEmitter();
  const recovery = createRecovery({ io, chat, subscriptions: health as unknown as ConnectionHealth, log: createLogger('silent') });
  // A socket here joined room r1 after reading its history up to 1000-0.
  recovery.joined('room:r1', 'room:r1', '1000-0');
  return { recovery, health, emitted, reads: () => reads };
}

describe('recovery: catching rooms up after a Redis blip', () => {
  it('tries again while the store cannot be read yet, and then delivers what was missed', async () => {
    const w = world(3);
    w.health.emit('cut-off');
    w.health.emit('restored');
    await waitFor(() => w.emitted.length > 0, 'the missed message delivered', 5000);
    expect(w.reads()).to.equal(4);
    expect(w.emitted).to.deep.equal([{ room: 'room:r1', event: 'message:new', message: stored }]);
  });

  it('catches one room up when its lease lapsed (missed), trying again the same way', async () => {
    const w = world(1);
    await w.recovery.missed('room:r1');
    expect(w.reads()).to.equal(2);
    expect(w.emitted.map((e) => e.message.id)).to.deep.equal([stored.id]);
  });
});
