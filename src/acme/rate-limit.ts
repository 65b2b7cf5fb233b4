import { isIP } from 'node:net';
import { bytesToIp, ipToBytes, maskBytes, stripZone, unmapIpv4 } from '../pki/ip.ts';

/**
 * Token buckets keyed by account or client address. In memory: limits protect the CA from a runaway
 * device, they are not an accounting record.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  /** `capacity` requests per `windowMs`, refilled continuously. */
  constructor(private readonly capacity: number, private readonly windowMs: number, private readonly maxKeys = 100_000) {}

  /** Returns 0 when the request may go ahead, else the seconds until it may be retried. */
  take(key: string, now = Date.now()): number {
    const rate = this.capacity / this.windowMs;
    const b = this.buckets.get(key) ?? { tokens: this.capacity, at: now };
    b.tokens = Math.min(this.capacity, b.tokens + (now - b.at) * rate);
    b.at = now;
    this.buckets.delete(key);
    this.buckets.set(key, b);
    if (this.buckets.size > this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / rate / 1000));
  }
}

/**
 * The bucket a client address counts against. An IPv6 host chooses its own interface identifier
 * (SLAAC privacy addresses, or any address of its /64 it cares to add), so limiting per IPv6 address
 * limits nothing: IPv6 clients share one bucket per /64, as Boulder's limits do. IPv4 clients keep
 * one bucket per address, however the listener reports them.
 */
export function rateLimitKey(ip: string): string {
  const v4 = unmapIpv4(ip);
  if (isIP(v4) !== 6) return v4;
  // A link-local client's address comes from the socket with its zone (fe80::1%eth0); the zone stays in
  // the key, as the same address on another link is another host.
  const bytes = ipToBytes(stripZone(ip));
  // Every host on a link shares fe80::/64: one bucket for it would let one device starve the others.
  if (bytes[0] === 0xfe && (bytes[1] & 0xc0) === 0x80) return ip;
  return `${bytesToIp(maskBytes(bytes, 64))}/64`;
}
