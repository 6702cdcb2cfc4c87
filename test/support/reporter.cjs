// The spec reporter, with two changes: a suite skipped for something the machine
// lacks (test/support/services.ts, needs()) is one line, "skipped: <suite> needs
// ...", instead of a line per test; and one plain closing line ("N passed, N
// failed") that any CI can read regardless of the test runner.
const Mocha = require('mocha');

const { Base } = Mocha.reporters;
const { color } = Base;
const { EVENT_RUN_BEGIN, EVENT_RUN_END, EVENT_SUITE_BEGIN, EVENT_SUITE_END, EVENT_TEST_FAIL, EVENT_TEST_PASS, EVENT_TEST_PENDING } =
  Mocha.Runner.constants;

/** Must match SKIP_REASON in services.ts. */
const SKIP_REASON = 'needsMissing';

class Reporter extends Base {
  constructor(runner, options) {
    super(runner, options);
    let indents = 0;
    let failures = 0;
    /** How deep we are inside a skipped suite (0: not inside one). */
    let quiet = 0;
    /** The last top-level suite was a skipped one (its line, not a blank line, ended it). */
    let afterSkip = false;
    const indent = () => Array(indents).join('  ');

    runner.on(EVENT_RUN_BEGIN, () => Base.consoleLog());
    runner.on(EVENT_SUITE_BEGIN, (suite) => {
      ++indents;
      if (quiet) return void ++quiet;
      if (suite[SKIP_REASON]) {
        quiet = 1;
        Base.consoleLog(color('pending', '%sskipped: %s %s'), indent(), suite.fullTitle(), suite[SKIP_REASON]);
        return;
      }
      if (indents === 2 && afterSkip) Base.consoleLog();
      afterSkip = false;
      Base.consoleLog(color('suite', '%s%s'), indent(), suite.title);
    });
    runner.on(EVENT_SUITE_END, (suite) => {
      --indents;
      if (quiet) --quiet;
      // Consecutive skipped top-level suites are one line each, with no blank lines between.
      if (indents === 1 && !quiet) {
        afterSkip = Boolean(suite[SKIP_REASON]);
        if (!afterSkip) Base.consoleLog();
      }
    });
    runner.on(EVENT_TEST_PENDING, (test) => {
      if (!quiet) Base.consoleLog(indent() + color('pending', '  - %s'), test.title);
    });
    runner.on(EVENT_TEST_PASS, (test) => {
      const fmt = indent() + color('checkmark', `  ${Base.symbols.ok}`) + color('pass', ' %s');
      if (test.speed === 'fast') Base.consoleLog(fmt, test.title);
      else Base.consoleLog(fmt + color(test.speed, ' (%dms)'), test.title, test.duration);
    });
    runner.on(EVENT_TEST_FAIL, (test) => {
      Base.consoleLog(indent() + color('fail', '  %d) %s'), ++failures, test.title);
    });
    runner.once(EVENT_RUN_END, () => {
      this.epilogue();
      const { passes, failures: failed, pending } = runner.stats ?? this.stats;
      console.log(`${passes} passed, ${failed} failed${pending ? `, ${pending} skipped` : ''}`);
    });
  }
}

module.exports = Reporter;
