import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';

/**
 * Builds a raw TLS ClientHello record (RFC 5246 §7.4.1.2) for versions up to TLS 1.2. The kit writes
 * its own hello instead of asking Node's OpenSSL because it must offer what that OpenSSL refuses to
 * send (SSL 3.0, TLS 1.0 at any security level, export, NULL and RC4 suites), and because the server's
 * answer to a TLS 1.2 hello (ServerHello, Certificate, CertificateRequest) is plaintext it can read.
 */
export interface ClientHelloOptions {
  version: number;
  suites: readonly number[];
  /** Host name for SNI (RFC 6066 §3); IP literals are never sent as SNI. */
  serverName?: string;
  /** signature_algorithms (RFC 5246 §7.4.1.4.1); defaults to ECDSA, RSA-PSS and RSA PKCS#1 with SHA-2 and SHA-1. */
  signatureAlgorithms?: readonly number[];
}

const DEFAULT_SIGALGS = [0x0403, 0x0503, 0x0603, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601, 0x0203, 0x0201];
/** x25519, secp256r1, secp384r1, secp521r1 (RFC 8422 §5.1.1). */
const GROUPS = [0x001d, 0x0017, 0x0018, 0x0019];

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function u24(n: number): Buffer {
  return Buffer.from([(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]);
}

function extension(type: number, data: Buffer): Buffer {
  return Buffer.concat([u16(type), u16(data.length), data]);
}

function list16(items: readonly number[]): Buffer {
  return Buffer.concat([u16(items.length * 2), ...items.map(u16)]);
}

export function buildClientHello(opts: ClientHelloOptions): Buffer {
  const exts: Buffer[] = [];
  if (opts.serverName && !isIP(opts.serverName)) {
    const name = Buffer.from(opts.serverName, 'ascii');
    const entry = Buffer.concat([Buffer.from([0]), u16(name.length), name]);
    exts.push(extension(0x0000, Buffer.concat([u16(entry.length), entry])));
  }
  exts.push(extension(0x000a, list16(GROUPS)));
  exts.push(extension(0x000b, Buffer.from([1, 0]))); // ec_point_formats: uncompressed (RFC 8422 §5.1.2)
  exts.push(extension(0x000d, list16(opts.signatureAlgorithms ?? DEFAULT_SIGALGS)));
  exts.push(extension(0x0017, Buffer.alloc(0))); // extended_master_secret (RFC 7627 §5.1)
  exts.push(extension(0xff01, Buffer.from([0]))); // renegotiation_info, initial handshake (RFC 5746 §3.4)
  const extBytes = Buffer.concat(exts);
  const body = Buffer.concat([
    u16(opts.version),
    randomBytes(32),
    Buffer.from([0]), // empty session id
    list16(opts.suites),
    Buffer.from([1, 0]), // compression: null only
    ...(opts.version > 0x0300 ? [u16(extBytes.length), extBytes] : []),
  ]);
  const handshake = Buffer.concat([Buffer.from([1]), u24(body.length), body]);
  // The record layer version of a first hello is conventionally TLS 1.0 (RFC 5246 Appendix E.1).
  return Buffer.concat([Buffer.from([22]), u16(Math.min(opts.version, 0x0301)), u16(handshake.length), handshake]);
}
