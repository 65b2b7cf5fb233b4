/**
 * Where the fuzzer may point: loopback (127.0.0.0/8, ::1, localhost) freely; anything else only with
 * an explicit `--lab`, because fuzzing a real SCP or interface engine creates studies, orders and
 * patients in it.
 */
import { promises as dns } from 'node:dns';
import net from 'node:net';
import { WardgateError } from '../errors.ts';
import { isLoopback } from '../net/loopback.ts';

/** Every address a name resolves to (dns.lookup with all: true: /etc/hosts, then DNS). */
export type LookupAll = (host: string) => Promise<string[]>;

const systemLookup: LookupAll = async (host) => (await dns.lookup(host, { all: true, verbatim: true })).map((a) => a.address);

/** By spelling alone: addresses, and `localhost`; every other name is refused without a lookup. */
export function checkScope(host: string, lab: boolean, what = 'target'): void {
  if (isLoopback(host) || lab) return;
  throw new WardgateError('FUZZ_TARGET_REFUSED', `${what} ${host} is not on loopback: fuzzing creates records in the system it attacks; add --lab to confirm this is a lab system`);
}

/**
 * checkScope, and for a name (in practice `localhost`, the only one it lets through) the addresses it
 * resolves to: all of them must be loopback, since a connection may go to any. /etc/hosts can map
 * `localhost` to a LAN address.
 */
export async function checkScopeResolved(host: string, lab: boolean, opts: { what?: string; lookup?: LookupAll } = {}): Promise<void> {
  const what = opts.what ?? 'target';
  checkScope(host, lab, what);
  const bare = host.replace(/^\[|\]$/g, '');
  if (lab || net.isIP(bare) !== 0) return;
  let addresses: string[];
  try {
    addresses = await (opts.lookup ?? systemLookup)(bare);
  } catch (err) {
    throw new WardgateError('FUZZ_TARGET_REFUSED', `${what} ${host} does not resolve (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): give a loopback address such as 127.0.0.1, or --lab for a lab system`);
  }
  const outside = addresses.filter((a) => !(net.isIP(a) !== 0 && isLoopback(a)));
  if (addresses.length === 0 || outside.length > 0) {
    throw new WardgateError('FUZZ_TARGET_REFUSED', `${what} ${host} resolves to ${outside.join(', ') || 'no address'}, not only to loopback: fuzzing creates records in the system it attacks; add --lab to confirm this is a lab system`);
  }
}
