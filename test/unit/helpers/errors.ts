import { expect } from 'chai';
import { isAppError, type ErrorCode } from '../../../src/errors.js';

/** Awaits `work` and asserts that it rejects with an AppError of `code`. */
export async function expectAppError(work: Promise<unknown>, code: ErrorCode): Promise<void> {
  try {
    await work;
  } catch (err) {
    expect(isAppError(err), `expected an AppError, got ${String(err)}`).to.equal(true);
    expect((err as { code: string }).code).to.equal(code);
    return;
  }
  expect.fail(`expected AppError ${code}, but it resolved`);
}
