import { expect } from 'chai';
import { relativeTime } from '../../../src/web/relative-time.js';

describe('relativeTime: how long ago, in words', () => {
  const now = new Date('2025-03-10T12:00:00Z');
  const ago = (seconds: number) => relativeTime(new Date(now.getTime() - seconds * 1000), now);

  it('rounds down to the largest unit reached', () => {
    expect(ago(0)).to.equal('just now');
    expect(ago(44)).to.equal('just now');
    expect(ago(50)).to.equal('1 minute ago');
    expect(ago(119)).to.equal('1 minute ago');
    expect(ago(120)).to.equal('2 minutes ago');
    expect(ago(59 * 60 + 59)).to.equal('59 minutes ago');
    expect(ago(3600)).to.equal('1 hour ago');
    expect(ago(5 * 3600 + 1799)).to.equal('5 hours ago');
    expect(ago(86400)).to.equal('yesterday');
    expect(ago(3 * 86400)).to.equal('3 days ago');
    expect(ago(45 * 86400)).to.equal('last month');
    expect(ago(800 * 86400)).to.equal('2 years ago');
  });

  it('says "in ..." for a time ahead (another clock)', () => {
    expect(ago(-10)).to.equal('just now');
    expect(ago(-180)).to.equal('in 3 minutes');
  });
});
