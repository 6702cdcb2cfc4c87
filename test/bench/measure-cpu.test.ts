import { constants, PerformanceObserver, performance, type PerformanceEntry } from 'node:perf_hooks';
import { expect } from 'chai';
import { measureCpu, noRedis } from '../../bench/lib/scenarios.js';
import { sleep } from '../../bench/lib/util.js';

const isFull = (e: PerformanceEntry) => (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR;

describe('bench/lib/scenarios.ts: a timed window', () => {
  it("collects the load generator's own garbage before the window opens", async () => {
    const entries: PerformanceEntry[] = [];
    const observer = new PerformanceObserver((list) => entries.push(...list.getEntries()));
    observer.observe({ entryTypes: ['gc'] });
    let windowStarted = Infinity;
    try {
      await measureCpu([], noRedis, async () => {
        windowStarted = performance.now();
      });
      // A collection's entry is made after it, in a turn of its own: wait for it (bounded).
      for (let i = 0; i < 100 && !entries.some(isFull); i++) await sleep(10);
    } finally {
      observer.disconnect();
    }
    const fullBefore = entries.filter((e) => isFull(e) && e.startTime < windowStarted);
    expect(fullBefore, 'a full collection of this process before the window opened').to.have.length.greaterThan(0);
  });
});
