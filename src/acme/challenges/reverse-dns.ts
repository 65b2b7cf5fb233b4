import { ipToBytes } from '../../pki/ip.ts';

/**
 * The reverse-mapping DNS name of an IP address (RFC 8738 §6: the TLS SNI of tls-alpn-01 for an IP
 * identifier): `4.3.2.1.in-addr.arpa` (RFC 1035 §3.5) or the nibble form under `ip6.arpa` (RFC 3596 §2.5).
 */
export function reverseDnsName(ip: string): string {
  const bytes = ipToBytes(ip);
  if (bytes.length === 4) return `${[...bytes].reverse().join('.')}.in-addr.arpa`;
  const nibbles: string[] = [];
  for (const b of bytes) nibbles.push((b >> 4).toString(16), (b & 0xf).toString(16));
  return `${nibbles.reverse().join('.')}.ip6.arpa`;
}
