import { isIP } from 'node:net';
import { cidrContains, parseCidr, unmapIpv4, type Cidr } from '../../pki/ip.ts';

/** Parses the validation allow-list; a bad entry throws WardgateError CLI_ARGUMENT naming it. */
export function parseNetworks(cidrs: readonly string[]): Cidr[] {
  return cidrs.map((c) => parseCidr(c));
}

export function isAllowed(ip: string, networks: readonly Cidr[]): boolean {
  if (!isIP(ip)) return false;
  // An IPv4-mapped address is judged as the IPv4 address it reaches.
  const target = unmapIpv4(ip);
  return networks.some((n) => cidrContains(n, target));
}
