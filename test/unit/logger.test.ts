import { expect } from 'chai';
import { logFormat } from '../../src/logger.js';

describe('log format', () => {
  const tty = { isTTY: true };
  const pipe = { isTTY: false };

  it('is readable (pretty) only with LOG_FORMAT=pretty, as `npm run dev` sets, on a terminal', () => {
    expect(logFormat({ LOG_FORMAT: 'pretty' }, tty)).to.equal('pretty');
  });

  it('is JSON lines on a pipe or a file, even with LOG_FORMAT=pretty', () => {
    expect(logFormat({ LOG_FORMAT: 'pretty' }, pipe)).to.equal('json');
    expect(logFormat({ LOG_FORMAT: 'pretty' }, {})).to.equal('json');
  });

  it('is JSON lines without LOG_FORMAT, as `npm start` runs, even on a terminal', () => {
    expect(logFormat({}, tty)).to.equal('json');
    expect(logFormat({ LOG_FORMAT: '' }, tty)).to.equal('json');
    expect(logFormat({ LOG_FORMAT: 'json' }, tty)).to.equal('json');
  });

  it('refuses any other LOG_FORMAT, naming the variable', () => {
    expect(() => logFormat({ LOG_FORMAT: 'Pretty' }, tty)).to.throw(/^LOG_FORMAT: /);
  });
});
