import { expect } from 'chai';
import { z } from 'zod';
import { AppError, errorMapper } from '../../../src/errors.js';
import { createLogger } from '../../../src/logger.js';
import type { EventMeter, Metrics } from '../../../src/ops/metrics.js';
import type { AppSocket } from '../../../src/realtime/events.js';
import { createDispatcher, defineHandler, type BindDeps, type HandlerTable } from '../../../src/realtime/handler.js';

/*
 * The dispatcher (realtime/handler.ts) acks every event exactly once. A handler that
 * answers without waiting is acked in the same tick, without a promise or a place
 * among the events in flight; one that waits is counted in flight until it answers.
 */

type Ack = (result: unknown) => void;

function harness(handle: (input: { n: number }) => object | Promise<object>) {
  const meters: Array<[event: string, result: string]> = [];
  const meter = (event: string): EventMeter => ({ start: () => 1, done: (result) => void meters.push([event, result]) });
  const metrics = { event: meter, rateLimited: () => undefined } as unknown as Metrics;
  const echo = defineHandler({ event: 'typing', schema: z.object({ n: z.number() }), handle: (input) => handle(input) as never });
  const deps: BindDeps = {
    io: {} as BindDeps['io'],
    services: { live: { session: () => ({}), handle: () => 'h' } } as unknown as BindDeps['services'],
    log: createLogger('silent'),
    toAppError: errorMapper(() => false),
    metrics,
    addressOf: () => undefined,
  };
  let listener: ((this: AppSocket, event: string, ...args: unknown[]) => void) | undefined;
  const socket = { id: 's1', data: { inFlight: 0, user: { id: 'u1', username: 'ann' } }, onAny: (fn: typeof listener) => void (listener = fn) } as unknown as AppSocket;
  createDispatcher({ typing: echo } as unknown as HandlerTable, deps)(socket);
  /** Sends one event; answers the acks it got so far (filled in later for a handler that waits). */
  const send = (payload: unknown) => {
    const acks: unknown[] = [];
    listener!.call(socket, 'typing', payload, ((r) => void acks.push(r)) as Ack);
    return acks;
  };
  return { send, socket, meters };
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('the event dispatcher', () => {
  it('acks a handler that answered without waiting in the same tick, once, with ok and its answer', async () => {
    const h = harness(({ n }) => ({ n: n + 1 }));
    const acks = h.send({ n: 1 });
    expect(acks).to.deep.equal([{ ok: true, n: 2 }]);
    expect(h.socket.data.inFlight).to.equal(0);
    await tick();
    expect(acks).to.have.length(1);
    expect(h.meters).to.deep.equal([['typing', 'ok']]);
  });

  it('counts a handler that waits in flight until it answers, then acks it once', async () => {
    let answer!: (v: object) => void;
    const h = harness(() => new Promise((resolve) => (answer = resolve)));
    const acks = h.send({ n: 1 });
    expect(acks).to.deep.equal([]);
    expect(h.socket.data.inFlight).to.equal(1);
    answer({ done: true });
    await tick();
    expect(acks).to.deep.equal([{ ok: true, done: true }]);
    expect(h.socket.data.inFlight).to.equal(0);
    expect(h.meters).to.deep.equal([['typing', 'ok']]);
  });

  it('acks a failure for a handler that throws at once, as for one that rejects', async () => {
    for (const handle of [
      () => {
        throw new AppError('forbidden', 'join room x first');
      },
      async () => {
        throw new AppError('forbidden', 'join room x first');
      },
    ]) {
      const h = harness(handle);
      const acks = h.send({ n: 1 });
      await tick();
      expect(acks).to.deep.equal([{ ok: false, error: { code: 'forbidden', message: 'join room x first' } }]);
      expect(h.socket.data.inFlight).to.equal(0);
      expect(h.meters).to.deep.equal([['typing', 'forbidden']]);
    }
  });

  it('refuses a payload its schema refuses before the handler runs (bad_request)', () => {
    let ran = false;
    const h = harness(() => ((ran = true), {}));
    expect(h.send({ n: 'one' })).to.deep.equal([{ ok: false, error: { code: 'bad_request', message: 'n: Invalid input: expected number, received string' } }]);
    expect(ran).to.equal(false);
  });
});
