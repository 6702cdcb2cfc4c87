import { expect } from 'chai';
import { collectorInstructions } from '../../bench/lib/callgrind.js';

/** A thread's dump as callgrind writes it: names given in full once, then by number; a call's line, then its inclusive cost. */
const DUMP = `# callgrind format
version: 1
positions: line
events: Ir
summary: 1000

ob=(1) /usr/bin/node
fl=(1) ???
fn=(1) v8::internal::Scavenger::ScavengeObject(v8::internal::HeapObject)
0 300
cob=(2) /usr/lib/x86_64-linux-gnu/libc.so.6
cfi=(2) ???
cfn=(2) __memcpy_avx_unaligned_erms
calls=10 0
0 50
+2 20

fn=(3) Builtins_LoadIC
0 400
cfn=(4) v8::internal::Heap::CollectGarbage(v8::internal::AllocationSpace)
calls=1 0
0 170

fn=(4)
* 100
cfn=(1)
calls=2 0
0 70

fn=(2)
0 50

totals: 1090
`;

describe('bench/lib/callgrind.ts: the collector\'s share of a dump', () => {
  it("sums the collector's functions' own instructions, by name given in full or by number, and not the costs of their calls", () => {
    // ScavengeObject 300 + 20, CollectGarbage (named by number after a cfn=) 100; not memcpy's 50, LoadIC's 400, or the call lines.
    expect(collectorInstructions(DUMP)).to.equal(420);
  });

  it('counts nothing in a dump with no collector function', () => {
    expect(collectorInstructions('fn=(1) Builtins_LoadIC\n0 400\ntotals: 400\n')).to.equal(0);
  });
});
