/**
 * Who is on the other end: peer IP address and, on TLS sides, the verified certificate's subject CN
 * and subjectAltName entries (RFC 5280 §4.2.1.6). Policy rules match against this.
 */
import { type Socket, isIP } from 'node:net';
import { canonicalIp, unmapIpv4 } from '../pki/ip.ts';
import type { TLSSocket } from 'node:tls';

export interface PeerIdentity {
  address: string;
  /** Subject CN values of a verified peer certificate. */
  subjects: string[];
  /** DNS names and IP addresses from subjectAltName. */
  sans: string[];
  /** Human-readable subject for audit records, e.g. `CN=ct1.rad.klinikum.internal`. */
  subjectText?: string;
}

/** Node maps IPv4 peers of a dual-stack socket to ::ffff:a.b.c.d; policies are written with a.b.c.d. */
export function normalizeAddress(address: string | undefined): string {
  if (!address) return 'unknown';
  return unmapIpv4(address);
}

/**
 * Parse Node's subjectaltname string: `DNS:a, IP Address:1.2.3.4`. IPv6 addresses come out in RFC 5952
 * form: Node prints them uncompressed (`0:0:0:0:0:0:0:1`), and rules and peer addresses are written `::1`.
 */
export function parseSubjectAltName(text: string | undefined): string[] {
  if (!text) return [];
  const out: string[] = [];
  for (const part of text.split(/,\s*/)) {
    const m = /^(DNS|IP Address):(.*)$/.exec(part.trim());
    if (m) out.push(m[1] === 'DNS' || !isIP(m[2]) ? m[2].toLowerCase() : canonicalIp(m[2]));
  }
  return out;
}

/** The audit records' subject for certificate CNs: `CN=a` (`CN=a+b` for several), none without one. */
export function subjectTextOf(subjects: readonly string[]): string | undefined {
  return subjects.length ? `CN=${subjects.join('+')}` : undefined;
}

export function plainPeer(socket: Socket): PeerIdentity {
  return { address: normalizeAddress(socket.remoteAddress), subjects: [], sans: [] };
}

/**
 * Identity of a TLS peer; certificate fields only when the chain was verified (socket.authorized).
 * The certificate is decoded on first use: routes without peer rules or audit never pay for it.
 */
export function tlsPeer(socket: TLSSocket): PeerIdentity {
  const address = normalizeAddress(socket.remoteAddress);
  let decoded: Pick<PeerIdentity, 'subjects' | 'sans' | 'subjectText'> | undefined;
  const cert = () => {
    if (decoded) return decoded;
    decoded = { subjects: [], sans: [] };
    if (!socket.authorized) return decoded;
    const c = socket.getPeerCertificate();
    if (!c || Object.keys(c).length === 0) return decoded;
    const cn = c.subject?.CN;
    const subjects = cn === undefined ? [] : Array.isArray(cn) ? cn : [cn];
    decoded = { subjects, sans: parseSubjectAltName(c.subjectaltname), subjectText: subjectTextOf(subjects) };
    return decoded;
  };
  return {
    address,
    get subjects() { return cert().subjects; },
    get sans() { return cert().sans; },
    get subjectText() { return cert().subjectText; },
  };
}
