/**
 * Where the fuzzer may point: loopback (127.0.0.0/8, ::1, localhost) freely; anything else only with
 * an explicit `--lab`, because fuzzing a real SCP or interface engine creates studies, orders and
 * patients in it.
 */
import net from 'node:net';
import { WardgateError } from '../errors.ts';

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  if (net.isIPv4(h)) return h.startsWith('127.');
  if (h.startsWith('::ffff:')) return isLoopback(h.slice(7));
  return false;
}

export function checkScope(host: string, lab: boolean, what = 'target'): void {
  if (isLoopback(host) || lab) return;
  throw new WardgateError('FUZZ_TARGET_REFUSED', `${what} ${host} is not on loopback: fuzzing creates records in the system it attacks; add --lab to confirm this is a lab system`);
}
