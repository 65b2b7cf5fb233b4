import net from 'node:net';
import { unmapIpv4 } from '../pki/ip.ts';

/** 127.0.0.0/8, ::1 (also IPv4-mapped, and in brackets) and localhost: only this host reaches them. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  if (net.isIPv4(h)) return h.startsWith('127.');
  if (net.isIPv6(h)) {
    const v4 = unmapIpv4(h);
    return v4 !== h && isLoopback(v4);
  }
  return false;
}
