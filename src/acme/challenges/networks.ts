import { isIP } from 'node:net';
import { cidrContains, parseCidr, type Cidr } from '../../pki/ip.ts';

/** Parses the validation allow-list; a bad entry throws WardgateError CLI_ARGUMENT naming it. */
export function parseNetworks(cidrs: readonly string[]): Cidr[] {
  return cidrs.map((c) => parseCidr(c));
}

/** IPv4-mapped IPv6 (::ffff:a.b.c.d) is judged as the IPv4 address it reaches. */
function unmap(ip: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  return m ? m[1] : ip;
}

export function isAllowed(ip: string, networks: readonly Cidr[]): boolean {
  if (!isIP(ip)) return false;
  const target = unmap(ip);
  return networks.some((n) => cidrContains(n, target));
}
