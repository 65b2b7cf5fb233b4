import { isWardgateError } from '../../src/errors.ts';

/* eslint-disable @typescript-eslint/no-explicit-any */
interface Asserter {
  equal: (...args: any[]) => any;
  match: (...args: any[]) => any;
  notMatch: (...args: any[]) => any;
  fail: (...args: any[]) => any;
}

/**
 * Awaits `work` and asserts it failed with a WardgateError of `code` whose one-line message matches
 * `message`. tap's t.rejects takes no predicate, so the checks are spelled out here.
 */
export async function rejectsWithCode(t: Asserter, work: Promise<unknown> | (() => unknown), code: string, message: RegExp | undefined, label: string): Promise<void> {
  try {
    await (typeof work === 'function' ? work() : work);
  } catch (err) {
    if (!isWardgateError(err)) return void t.fail(`${label}: threw a non-WardgateError: ${String(err)}`);
    t.equal(err.code, code, `${label}: code`);
    if (message) t.match(err.message, message, `${label}: message`);
    t.notMatch(err.message, /\n/, `${label}: one line`);
    return;
  }
  t.fail(`${label}: did not fail (expected ${code})`);
}
