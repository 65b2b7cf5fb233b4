import { isIP } from 'node:net';
import { WardgateError } from '../errors.ts';

/** An IPv4 or IPv6 network: address bytes (4 or 16) and prefix length. */
export interface Cidr {
  bytes: Uint8Array;
  prefix: number;
  text: string;
}

/**
 * The address without its zone ID. Node reports a link-local peer as `fe80::1%eth0` (RFC 4007 §11);
 * identifiers, rules and limits judge the address alone, so OS-supplied addresses pass through here
 * before ipToBytes, which refuses a zone in text a person or a client wrote.
 */
export function stripZone(address: string): string {
  const i = address.indexOf('%');
  return i < 0 || isIP(address) !== 6 ? address : address.slice(0, i);
}

export function ipToBytes(ip: string): Uint8Array {
  // RFC 8738 §3 and RFC 5952: an IP identifier is the address alone. isIP() accepts `fe80::1%eth0` and
  // parseInt would stop at '%', so the zone would vanish and another interface's host pass as this one.
  const v = isIP(ip);
  if (v === 6 && ip.includes('%')) {
    throw new WardgateError('NAME_INVALID', `"${ip}" carries a zone ID (%...): it names an interface of one host, not an address; write ${stripZone(ip)}`);
  }
  if (v === 4) return Uint8Array.from(ip.split('.').map(Number));
  if (v === 6) {
    let text = ip;
    // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hex groups.
    const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
    if (v4) {
      const b = v4[1].split('.').map(Number);
      text = text.slice(0, -v4[1].length) + `${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`;
    }
    const [head, tail] = text.split('::');
    const h = head ? head.split(':') : [];
    const t = tail !== undefined ? (tail ? tail.split(':') : []) : [];
    const groups = tail !== undefined ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
    const out = new Uint8Array(16);
    groups.forEach((g, i) => { const n = parseInt(g, 16); out[2 * i] = n >> 8; out[2 * i + 1] = n & 0xff; });
    return out;
  }
  throw new WardgateError('NAME_INVALID', `"${ip}" is not an IP address`);
}

export function bytesToIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  // RFC 5952 §4.2: compress the longest run of zero groups.
  let best = -1; let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') { i++; continue; }
    let j = i; while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) { best = i; bestLen = j - i; }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/**
 * RFC 5952 text of an IP address (IPv4 stays dotted decimal), so addresses compare equal however they
 * were written: certificates, ACME identifiers, allow rules and peer addresses all pass through here.
 */
export function canonicalIp(ip: string): string {
  return bytesToIp(ipToBytes(ip));
}

/**
 * The IPv4 address behind an IPv4-mapped IPv6 address (::ffff:a.b.c.d, or ::ffff:7f00:1), as a
 * dual-stack socket reports IPv4 peers and as a resolver may return them; any other text unchanged.
 * Policies, allow-lists and rate-limit buckets are written for, and must judge, the IPv4 address.
 */
export function unmapIpv4(ip: string): string {
  // Node appends a zone to link-local addresses only, never to a mapped one: text with a zone is not mapped.
  if (isIP(ip) !== 6 || ip.includes('%') || !/^[0:]*:ffff:/i.test(ip)) return ip;
  const bytes = ipToBytes(ip);
  const mapped = bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  return mapped ? bytesToIp(bytes.subarray(12)) : ip;
}

export function parseCidr(text: string): Cidr {
  const [addr, prefixText, extra] = text.split('/');
  const v = isIP(addr ?? '');
  const max = v === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (!v || addr.includes('%') || extra !== undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > max || (prefixText !== undefined && !/^\d+$/.test(prefixText))) {
    const zone = v && addr.includes('%') ? '; a zone ID (%...) names an interface, not a network' : '';
    throw new WardgateError('CLI_ARGUMENT', `"${text}" is not a CIDR range (expected e.g. 10.20.0.0/16 or fd00::/8)${zone}`);
  }
  const bytes = ipToBytes(addr);
  const masked = maskBytes(bytes, prefix);
  return { bytes: masked, prefix, text: `${bytesToIp(masked)}/${prefix}` };
}

export function maskBytes(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    const bits = Math.max(0, Math.min(8, prefix - 8 * i));
    out[i] = bytes[i] & (bits === 0 ? 0 : (0xff << (8 - bits)) & 0xff);
  }
  return out;
}

/** The 2×N-byte address-and-mask form name constraints use for iPAddress (RFC 5280 §4.2.1.10). */
export function cidrToConstraintBytes(c: Cidr): Uint8Array {
  const mask = maskBytes(new Uint8Array(c.bytes.length).fill(0xff), c.prefix);
  const out = new Uint8Array(c.bytes.length * 2);
  out.set(c.bytes, 0);
  out.set(mask, c.bytes.length);
  return out;
}

export function cidrContains(c: Cidr, ip: string): boolean {
  let bytes: Uint8Array;
  try { bytes = ipToBytes(ip); } catch { return false; }
  if (bytes.length !== c.bytes.length) return false;
  const masked = maskBytes(bytes, c.prefix);
  return masked.every((b, i) => b === c.bytes[i]);
}
