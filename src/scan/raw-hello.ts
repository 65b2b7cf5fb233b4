/**
 * A hand-built TLS ClientHello (RFC 5246 §7.4.1.2) to ask one question without finishing a
 * handshake: "would you pick one of these?" The server's ServerHello (or alert) answers it; the
 * scanner then closes. This sees what Node's OpenSSL can no longer speak (RC4, DES, 3DES, export:
 * Node 20's OpenSSL 3.0 is built without them), and needs no cipher support on our side at all.
 */
import { randomBytes } from 'node:crypto';
import { type ConnectContext, connectTcp, exchange } from './connection.ts';

/** IANA TLS Cipher Suite registry: suites that RFC 9325 §4.1 forbids or discourages (SHOULD NOT: 3DES). */
export const WEAK_SUITES: Record<number, string> = {
  0x0001: 'TLS_RSA_WITH_NULL_MD5',
  0x0002: 'TLS_RSA_WITH_NULL_SHA',
  0x003b: 'TLS_RSA_WITH_NULL_SHA256',
  0xc006: 'TLS_ECDHE_ECDSA_WITH_NULL_SHA',
  0xc010: 'TLS_ECDHE_RSA_WITH_NULL_SHA',
  0x0003: 'TLS_RSA_EXPORT_WITH_RC4_40_MD5',
  0x0006: 'TLS_RSA_EXPORT_WITH_RC2_CBC_40_MD5',
  0x0008: 'TLS_RSA_EXPORT_WITH_DES40_CBC_SHA',
  0x0014: 'TLS_DHE_RSA_EXPORT_WITH_DES40_CBC_SHA',
  0x0004: 'TLS_RSA_WITH_RC4_128_MD5',
  0x0005: 'TLS_RSA_WITH_RC4_128_SHA',
  0xc011: 'TLS_ECDHE_RSA_WITH_RC4_128_SHA',
  0xc007: 'TLS_ECDHE_ECDSA_WITH_RC4_128_SHA',
  0x0009: 'TLS_RSA_WITH_DES_CBC_SHA',
  0x0015: 'TLS_DHE_RSA_WITH_DES_CBC_SHA',
  0x000a: 'TLS_RSA_WITH_3DES_EDE_CBC_SHA',
  0x0016: 'TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA',
  0xc012: 'TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA',
  0xc008: 'TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA',
  0x0018: 'TLS_DH_anon_WITH_RC4_128_MD5',
  0x001b: 'TLS_DH_anon_WITH_3DES_EDE_CBC_SHA',
  0x0034: 'TLS_DH_anon_WITH_AES_128_CBC_SHA',
  0x003a: 'TLS_DH_anon_WITH_AES_256_CBC_SHA',
  0x006c: 'TLS_DH_anon_WITH_AES_128_CBC_SHA256',
  0x00a6: 'TLS_DH_anon_WITH_AES_128_GCM_SHA256',
  0x00a7: 'TLS_DH_anon_WITH_AES_256_GCM_SHA384',
  0xc018: 'TLS_ECDH_anon_WITH_AES_128_CBC_SHA',
  0xc019: 'TLS_ECDH_anon_WITH_AES_256_CBC_SHA',
};

/** Suites a TLS 1.0/1.1 server is likely to have, for the legacy-version question. */
export const LEGACY_ERA_SUITES: number[] = [
  0xc014, 0xc013, 0xc00a, 0xc009, 0x0039, 0x0033, 0x0035, 0x002f, 0x000a, 0x0005, 0x0004, 0xc012, 0x0016,
];

export const TLS_VERSIONS: Record<number, string> = { 0x0300: 'SSLv3', 0x0301: 'TLSv1.0', 0x0302: 'TLSv1.1', 0x0303: 'TLSv1.2', 0x0304: 'TLSv1.3' };

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function ext(type: number, body: Buffer): Buffer {
  return Buffer.concat([u16(type), u16(body.length), body]);
}

function vec16(body: Buffer): Buffer {
  return Buffer.concat([u16(body.length), body]);
}

export function buildClientHello(version: number, suites: number[], hostname?: string): Buffer {
  const extensions: Buffer[] = [];
  if (hostname) {
    // RFC 6066 §3 server_name, host_name type 0.
    const name = Buffer.from(hostname, 'ascii');
    extensions.push(ext(0x0000, vec16(Buffer.concat([Buffer.from([0]), vec16(name)]))));
  }
  // RFC 8422 §5.1: supported_groups (x25519, secp256r1, secp384r1) and ec_point_formats (uncompressed).
  extensions.push(ext(0x000a, vec16(Buffer.concat([u16(0x001d), u16(0x0017), u16(0x0018)]))));
  extensions.push(ext(0x000b, Buffer.from([1, 0])));
  // RFC 5246 §7.4.1.4.1 signature_algorithms, SHA-256/384/1 with RSA and ECDSA (a 1.2 server needs it to pick a certificate).
  const sigalgs = [0x0401, 0x0501, 0x0201, 0x0403, 0x0503, 0x0203];
  extensions.push(ext(0x000d, vec16(Buffer.concat(sigalgs.map(u16)))));
  // RFC 5746 §3.3: renegotiation_info SCSV, so patched servers do not refuse us for it.
  const cipherList = Buffer.concat([...suites, 0x00ff].map(u16));
  const body = Buffer.concat([
    u16(version),
    randomBytes(32),
    Buffer.from([0]), // session_id: empty
    vec16(cipherList),
    Buffer.from([1, 0]), // compression_methods: null only
    vec16(Buffer.concat(extensions)),
  ]);
  const handshake = Buffer.concat([Buffer.from([1, body.length >> 16, (body.length >> 8) & 0xff, body.length & 0xff]), body]);
  // Record layer version 0x0301 for the first flight (RFC 5246 Appendix E.1).
  return Buffer.concat([Buffer.from([0x16, 0x03, 0x01]), u16(handshake.length), handshake]);
}

export type HelloAnswer =
  | { accepted: true; version: string; suite: number; suiteName: string }
  | { accepted: false; reason: string };

/** Read the first record: a ServerHello (accepted, with version and suite) or anything else. Pure. */
export function parseServerHello(data: Buffer): HelloAnswer | undefined {
  if (data.length < 5) return undefined;
  const type = data[0];
  const length = data.readUInt16BE(3);
  if (type === 0x15) return { accepted: false, reason: 'alert' };
  if (type !== 0x16 || data[1] !== 0x03) return { accepted: false, reason: 'not a TLS record' };
  // The ServerHello must start the first record: 4 (header) + 2 (version) + 32 (random) + 1 (session
  // id length) + session id + 2 (suite) bytes. Check every offset against both the record length the
  // peer announced and the bytes received: a short record is malformed, not a reason to read past it.
  const hs = data.subarray(5, 5 + length);
  if (length === 0) return { accepted: false, reason: 'empty handshake record' };
  if (hs.length === 0) return undefined;
  if (hs[0] !== 2) return { accepted: false, reason: `handshake type ${hs[0]} instead of ServerHello` };
  if (length < 39) return { accepted: false, reason: 'truncated ServerHello' };
  if (hs.length < 39) return undefined;
  const sidLength = hs[38];
  if (length < 39 + sidLength + 2) return { accepted: false, reason: 'truncated ServerHello' };
  if (hs.length < 39 + sidLength + 2) return undefined;
  const version = hs.readUInt16BE(4);
  const suite = hs.readUInt16BE(39 + sidLength);
  return { accepted: true, version: TLS_VERSIONS[version] ?? `0x${version.toString(16)}`, suite, suiteName: WEAK_SUITES[suite] ?? `0x${suite.toString(16).padStart(4, '0')}` };
}

/** Send one ClientHello on a new (rate-limited) connection, read the answer, close. */
export async function askHello(ctx: ConnectContext, address: string, port: number, version: number, suites: number[], hostname?: string): Promise<HelloAnswer> {
  const tcp = await connectTcp(ctx, address, port);
  if (!tcp.ok) return { accepted: false, reason: `connect ${tcp.reason}` };
  try {
    const answer = await exchange(tcp.socket, buildClientHello(version, suites, hostname), (d) => parseServerHello(d) !== undefined, ctx.timeoutMs, 16384);
    return parseServerHello(answer.data) ?? { accepted: false, reason: answer.timedOut ? 'timeout' : 'closed' };
  } finally {
    // RFC 5246 §7.2.1: a user_canceled alert would be polite, but an RST/FIN is what every
    // server handles; the handshake is simply abandoned.
    await new Promise<void>((resolve) => {
      tcp.socket.once('close', () => resolve());
      tcp.socket.destroy();
    });
  }
}

/** Does the server accept TLS 1.0 or 1.1? Offers TLS 1.1 as the highest version. */
export async function legacyVersionAccepted(ctx: ConnectContext, address: string, port: number, hostname?: string): Promise<string | undefined> {
  const r = await askHello(ctx, address, port, 0x0302, LEGACY_ERA_SUITES, hostname);
  return r.accepted && (r.version === 'TLSv1.0' || r.version === 'TLSv1.1' || r.version === 'SSLv3') ? r.version : undefined;
}

/** Does the server pick a weak suite when only weak suites are offered (as TLS 1.2)? */
export async function weakSuiteAccepted(ctx: ConnectContext, address: string, port: number, hostname?: string): Promise<string | undefined> {
  const r = await askHello(ctx, address, port, 0x0303, Object.keys(WEAK_SUITES).map(Number), hostname);
  return r.accepted && WEAK_SUITES[r.suite] ? r.suiteName : undefined;
}
