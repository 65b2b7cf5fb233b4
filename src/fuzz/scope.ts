/**
 * Where the fuzzer may point: loopback (127.0.0.0/8, ::1, localhost) freely; anything else only with
 * an explicit `--lab`, because fuzzing a real SCP or interface engine creates studies, orders and
 * patients in it.
 */
import { WardgateError } from '../errors.ts';
import { isLoopback } from '../net/loopback.ts';

export function checkScope(host: string, lab: boolean, what = 'target'): void {
  if (isLoopback(host) || lab) return;
  throw new WardgateError('FUZZ_TARGET_REFUSED', `${what} ${host} is not on loopback: fuzzing creates records in the system it attacks; add --lab to confirm this is a lab system`);
}
