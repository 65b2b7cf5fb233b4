import { createHash } from 'node:crypto';
import { concat, derSequence, derTlv } from './der.ts';
import { children, readTlv } from './der-reader.ts';
import { ipToBytes } from './ip.ts';
import type { Identifier } from './names.ts';

/**
 * DER encoding of an end-entity TBSCertificate (RFC 5280 §4.1), written directly: issuance is the hot
 * path of the ACME server, and a generic ASN.1 schema serializer spent more CPU on it than the signature.
 * Only what leaves need is here; CA certificates and CRLs keep using @peculiar/x509.
 */

const OID = {
  ecdsaSha256: '1.2.840.10045.4.3.2', ecdsaSha384: '1.2.840.10045.4.3.3', rsaSha256: '1.2.840.113549.1.1.11',
  cn: '2.5.4.3', basicConstraints: '2.5.29.19', keyUsage: '2.5.29.15', extKeyUsage: '2.5.29.37', san: '2.5.29.17',
  ski: '2.5.29.14', aki: '2.5.29.35', crlDp: '2.5.29.31', aia: '1.3.6.1.5.5.7.1.1',
  serverAuth: '1.3.6.1.5.5.7.3.1', clientAuth: '1.3.6.1.5.5.7.3.2', ocsp: '1.3.6.1.5.5.7.48.1', caIssuers: '1.3.6.1.5.5.7.48.2',
} as const;

export function derOid(dotted: string): Uint8Array {
  const [a, b, ...rest] = dotted.split('.').map(Number);
  const bytes = [a * 40 + b];
  for (const n of rest) {
    const group = [n & 0x7f];
    for (let v = n >>> 7; v > 0; v >>>= 7) group.unshift((v & 0x7f) | 0x80);
    bytes.push(...group);
  }
  return derTlv(0x06, Uint8Array.from(bytes));
}

const utf8 = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime after; seconds precision, Zulu. */
export function derTime(d: Date): Uint8Array {
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14); // YYYYMMDDHHMMSS
  return d.getUTCFullYear() < 2050 ? derTlv(0x17, utf8(`${iso.slice(2)}Z`)) : derTlv(0x18, utf8(`${iso}Z`));
}

/** A positive INTEGER from hex (adds the 0x00 pad when the top bit is set). */
export function derIntegerHex(hex: string): Uint8Array {
  let h = hex.length % 2 ? `0${hex}` : hex;
  if (parseInt(h.slice(0, 2), 16) & 0x80) h = `00${h}`;
  return derTlv(0x02, new Uint8Array(Buffer.from(h, 'hex')));
}

function extension(oid: string, critical: boolean, value: Uint8Array): Uint8Array {
  return derSequence([derOid(oid), ...(critical ? [Uint8Array.of(0x01, 0x01, 0xff)] : []), derTlv(0x04, value)]);
}

/** KeyUsage BIT STRING, named bits in RFC 5280 order, DER-minimal (trailing zero bits dropped). */
export function keyUsageBits(bits: number[]): Uint8Array {
  let value = 0;
  for (const b of bits) value |= 0x8000 >> b;
  const bytes = value & 0xff ? [value >> 8, value & 0xff] : [value >> 8];
  const last = bytes[bytes.length - 1];
  let unused = 0;
  while (unused < 7 && !(last & (1 << unused))) unused++;
  return derTlv(0x03, Uint8Array.from([unused, ...bytes]));
}

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING contents. */
export function subjectKeyId(spki: Uint8Array): Uint8Array {
  const outer = readTlv(spki, 0);
  const bitString = children(spki, outer)[1];
  return new Uint8Array(createHash('sha1').update(spki.subarray(bitString.valueStart + 1, bitString.end)).digest());
}

export function signatureAlgorithmDer(issuerKey: 'ecdsa-p256' | 'ecdsa-p384' | 'rsa'): Uint8Array {
  if (issuerKey === 'rsa') return derSequence([derOid(OID.rsaSha256), Uint8Array.of(0x05, 0x00)]);
  return derSequence([derOid(issuerKey === 'ecdsa-p384' ? OID.ecdsaSha384 : OID.ecdsaSha256)]);
}

export interface LeafFields {
  serialHex: string;
  signatureAlgorithm: Uint8Array;
  /** The issuer certificate's subject Name, as DER (copied, never re-encoded, so chains match byte for byte). */
  issuerName: Uint8Array;
  issuerKeyId: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  /** CN for old stacks; undefined gives an empty subject (IP-only certificates, RFC 5280 §4.2.1.6). */
  commonName?: string;
  spki: Uint8Array;
  keyUsage: number[];
  extKeyUsage: ('serverAuth' | 'clientAuth')[];
  identifiers: Identifier[];
  urls?: { crl: string; ocsp: string; caIssuers: string };
}

export function encodeLeafTbs(f: LeafFields): Uint8Array {
  const subject = f.commonName
    ? derSequence([derTlv(0x31, derSequence([derOid(OID.cn), derTlv(0x0c, utf8(f.commonName))]))])
    : derSequence([]);
  const san = derSequence(f.identifiers.map((i) => (i.type === 'dns' ? derTlv(0x82, utf8(i.value)) : derTlv(0x87, ipToBytes(i.value)))));
  const extensions = [
    extension(OID.basicConstraints, true, derSequence([])),
    extension(OID.keyUsage, true, keyUsageBits(f.keyUsage)),
    extension(OID.extKeyUsage, false, derSequence(f.extKeyUsage.map((e) => derOid(OID[e])))),
    extension(OID.san, !f.commonName, san),
    extension(OID.ski, false, derTlv(0x04, subjectKeyId(f.spki))),
    extension(OID.aki, false, derSequence([derTlv(0x80, f.issuerKeyId)])),
  ];
  if (f.urls) {
    const uri = (u: string) => derTlv(0x86, utf8(u));
    extensions.push(extension(OID.crlDp, false, derSequence([derSequence([derTlv(0xa0, derTlv(0xa0, uri(f.urls.crl)))])])));
    extensions.push(extension(OID.aia, false, derSequence([
      derSequence([derOid(OID.ocsp), uri(f.urls.ocsp)]),
      derSequence([derOid(OID.caIssuers), uri(f.urls.caIssuers)]),
    ])));
  }
  return derSequence([
    derTlv(0xa0, Uint8Array.of(0x02, 0x01, 0x02)), // version v3
    derIntegerHex(f.serialHex),
    f.signatureAlgorithm,
    f.issuerName,
    derSequence([derTime(f.notBefore), derTime(f.notAfter)]),
    subject,
    f.spki,
    derTlv(0xa3, derSequence(extensions)),
  ]);
}

/** Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }. */
export function encodeCertificate(tbs: Uint8Array, signatureAlgorithm: Uint8Array, signature: Uint8Array): Uint8Array {
  return derSequence([tbs, signatureAlgorithm, derTlv(0x03, concat([Uint8Array.of(0), signature]))]);
}
