import { expect } from 'chai';
import { isAppError, type ErrorCode } from '../../../src/errors.js';

/**
 * Awaits `work` and asserts that it rejects with an AppError of `code`. A function is
 * called first, so that one that may throw at once (a handler that answers without
 * waiting, see EventHandler) is checked the same way.
 */
export async function expectAppError(work: Promise<unknown> | (() => unknown), code: ErrorCode): Promise<void> {
  try {
    await (typeof work === 'function' ? work() : work);
  } catch (err) {
    expect(isAppError(err), `expected an AppError, got ${String(err)}`).to.equal(true);
    expect((err as { code: string }).code).to.equal(code);
    return;
  }
  expect.fail(`expected AppError ${code}, but it resolved`);
}
