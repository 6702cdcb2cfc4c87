import { expect } from 'chai';
import { brokenConstraints, TIMINGS } from '../../src/timings.js';

describe('timings.ts: the timings that depend on each other', () => {
  it('keeps every constraint with the values the server runs with', () => {
    expect(brokenConstraints(TIMINGS)).to.deep.equal([]);
  });

  it('names each constraint a change would break', () => {
    expect(brokenConstraints({ ...TIMINGS, presenceDeadAfterMs: TIMINGS.presenceHeartbeatMs })).to.deep.equal([
      'a live process must be able to miss a heartbeat without being swept',
      'the sweep runs more often than a process takes to count as dead',
    ]);
    expect(brokenConstraints({ ...TIMINGS, sessionLockWaitMs: TIMINGS.handlerTimeoutMs })).to.deep.equal([
      'a handler waiting for a busy session lock gets the lock’s answer, not the watchdog’s',
    ]);
    expect(brokenConstraints({ ...TIMINGS, handlerTimeoutMs: TIMINGS.ackDeadlineMs })).to.deep.equal(['the watchdog acks before the client gives up']);
    expect(brokenConstraints({ ...TIMINGS, shutdownLimitMs: TIMINGS.stopPromiseMs })).to.deep.equal(['a stop ends within the time PROTOCOL.md promises']);
  });
});
