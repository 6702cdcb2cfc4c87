import { expect } from 'chai';
import { gcSpent, gcSum, noGc, type CpuReport, type GcTotals } from '../../bench/lib/probe-protocol.js';

const report = (gc: GcTotals | undefined): CpuReport => ({ user: 0, system: 0, elu: { idle: 0, active: 0 }, ...(gc && { gc }) }) as CpuReport;
const totals = (young: [number, number], full: [number, number], other: [number, number]): GcTotals => ({
  young: { count: young[0], ms: young[1] },
  full: { count: full[0], ms: full[1] },
  other: { count: other[0], ms: other[1] },
});

describe('bench/lib/probe-protocol.ts: the collections of a window', () => {
  it('counts what the later report has beyond the earlier, kind by kind', () => {
    const spent = gcSpent(report(totals([10, 50], [1, 20], [4, 2])), report(totals([17, 85.5], [2, 31], [9, 3.5])));
    expect(spent).to.deep.equal(totals([7, 35.5], [1, 11], [5, 1.5]));
  });

  it('counts nothing when a report has no collections in it (a probe of an older bench)', () => {
    expect(gcSpent(report(undefined), report(totals([3, 1], [0, 0], [0, 0])))).to.deep.equal(noGc());
    expect(gcSpent(report(totals([3, 1], [0, 0], [0, 0])), report(undefined))).to.deep.equal(noGc());
  });

  it('sums several processes, and gives a fresh zero each time', () => {
    expect(gcSum([totals([1, 2], [0, 0], [1, 1]), totals([3, 4], [1, 10], [0, 0])])).to.deep.equal(totals([4, 6], [1, 10], [1, 1]));
    const zero = noGc();
    zero.young.count = 5;
    expect(noGc().young.count).to.equal(0);
    expect(gcSum([])).to.deep.equal(noGc());
  });
});
