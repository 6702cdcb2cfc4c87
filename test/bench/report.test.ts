import { expect } from 'chai';
import { ratioOf, renderRounds, Results, roundRatios } from '../../bench/lib/report.js';

describe('bench report: per-round lines', () => {
  const results = () => {
    const r = new Results();
    r.metric('acked inbound events/s', 'per s', 'higher', { on: 'ratio', op: '>=', value: 0.95 });
    return r;
  };

  it("gives each round's ratio and how far the baseline's own rounds were apart", () => {
    const r = results();
    for (const [bare, project] of [
      [20_000, 18_000],
      [25_000, 25_000],
      [16_000, 15_200],
    ] as const) {
      r.add('acked inbound events/s', 'bare', bare);
      r.add('acked inbound events/s', 'project', project);
    }
    const m = r.metrics.get('acked inbound events/s')!;
    expect(roundRatios(m)).to.deep.equal([0.9, 1, 0.95]);
    expect(ratioOf(m)).to.equal(0.95);
    expect(renderRounds(r)).to.equal(
      "- acked inbound events/s: bare 20,000 / 25,000 / 16,000; project 18,000 / 25,000 / 15,200; ratios 0.90 / 1.00 / 0.95 (bare's own rounds 1.56× apart)",
    );
  });

  it('names the columns of a table against another baseline', () => {
    const r = new Results({ bare: '1 process', project: '3 processes', ratio: 'ratio 3/1' });
    r.metric('messages/s', 'per s', 'higher');
    r.add('messages/s', 'bare', 100);
    r.add('messages/s', 'bare', 120);
    r.add('messages/s', 'project', 240);
    r.add('messages/s', 'project', 300);
    expect(renderRounds(r)).to.equal(
      "- messages/s: 1 process 100 / 120; 3 processes 240 / 300; ratios 2.40 / 2.50 (1 process's own rounds 1.20× apart)",
    );
  });

  it('says nothing of spread with one round, or when a side has none', () => {
    const one = results();
    one.add('acked inbound events/s', 'bare', 20_000);
    one.add('acked inbound events/s', 'project', 19_000);
    expect(renderRounds(one)).to.equal('- acked inbound events/s: bare 20,000; project 19,000');
    const projectOnly = results();
    projectOnly.add('acked inbound events/s', 'project', 19_000);
    projectOnly.add('acked inbound events/s', 'project', 18_000);
    expect(renderRounds(projectOnly)).to.equal('- acked inbound events/s: bare —; project 19,000 / 18,000');
    expect(ratioOf(projectOnly.metrics.get('acked inbound events/s')!)).to.be.NaN;
  });
});
