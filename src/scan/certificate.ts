/**
 * What the scanner learns from a presented certificate chain: a summary for the report, and the
 * facts the findings are raised from (expiry, trust path, key size, signature hash, name match).
 * Chain building is done here, not by OpenSSL's verifier, because OpenSSL stops at the first error
 * and an expired certificate from an unknown issuer must yield both findings.
 */
import { X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { rootCertificates } from 'node:tls';
import { WardgateError } from '../errors.ts';
import { oidText, readTlv } from '../pki/der-reader.ts';
import { splitPem } from '../pki/pem.ts';
import type { CertificateSummary } from './types.ts';

// RFC 3279 §2.2, RFC 4055 §5, RFC 5758 §3.2, RFC 8410 §3: signature algorithm OIDs seen on devices.
const SIGNATURE_ALGORITHMS: Record<string, string> = {
  '1.2.840.113549.1.1.2': 'md2WithRSAEncryption',
  '1.2.840.113549.1.1.3': 'md4WithRSAEncryption',
  '1.2.840.113549.1.1.4': 'md5WithRSAEncryption',
  '1.2.840.113549.1.1.5': 'sha1WithRSAEncryption',
  '1.2.840.113549.1.1.10': 'rsassaPss',
  '1.2.840.113549.1.1.11': 'sha256WithRSAEncryption',
  '1.2.840.113549.1.1.12': 'sha384WithRSAEncryption',
  '1.2.840.113549.1.1.13': 'sha512WithRSAEncryption',
  '1.2.840.113549.1.1.14': 'sha224WithRSAEncryption',
  '1.2.840.10040.4.3': 'dsaWithSHA1',
  '2.16.840.1.101.3.4.3.2': 'dsaWithSHA256',
  '1.2.840.10045.4.1': 'ecdsaWithSHA1',
  '1.2.840.10045.4.3.2': 'ecdsaWithSHA256',
  '1.2.840.10045.4.3.3': 'ecdsaWithSHA384',
  '1.2.840.10045.4.3.4': 'ecdsaWithSHA512',
  '1.3.101.112': 'Ed25519',
  '1.3.101.113': 'Ed448',
};

/** Hashes broken for signatures: collisions are practical (SHA-1: SHAttered 2017; MD5: Flame 2012). */
export const WEAK_SIGNATURE = /^(md2|md4|md5|sha1|dsaWithSHA1|ecdsaWithSHA1)/i;

// SEC 2 / RFC 5480 curve sizes.
const CURVE_BITS: Record<string, number> = {
  prime192v1: 192, secp192k1: 192, secp224r1: 224, secp224k1: 224, prime256v1: 256, secp256k1: 256,
  secp384r1: 384, secp521r1: 521, brainpoolP256r1: 256, brainpoolP384r1: 384, brainpoolP512r1: 512,
};

/**
 * RFC 5280 §4.1.1.2: the outer signatureAlgorithm, read without decoding the TBSCertificate: the
 * ASN.1 decoder caps its node count, so a certificate with thousands of SANs or extensions would
 * otherwise show an "unknown" algorithm and hide a SHA-1 signature from the findings.
 */
export function signatureAlgorithmOf(der: Buffer): string {
  try {
    const outer = readTlv(der, 0);
    const tbs = readTlv(der, outer.valueStart);
    const algOid = readTlv(der, readTlv(der, tbs.end).valueStart);
    if (algOid.tag !== 0x06) return 'unknown';
    const oid = oidText(der.subarray(algOid.valueStart, algOid.end));
    return SIGNATURE_ALGORITHMS[oid] ?? oid;
  } catch {
    return 'unknown';
  }
}

export function keyOf(key: KeyObject): { keyType: string; keyBits: number } {
  const type = key.asymmetricKeyType ?? 'unknown';
  const d = key.asymmetricKeyDetails ?? {};
  if (type === 'rsa' || type === 'rsa-pss' || type === 'dsa') return { keyType: type, keyBits: d.modulusLength ?? 0 };
  if (type === 'ec') return { keyType: `ec-${d.namedCurve ?? 'unknown'}`, keyBits: CURVE_BITS[d.namedCurve ?? ''] ?? 0 };
  if (type === 'ed25519') return { keyType: type, keyBits: 256 };
  if (type === 'ed448') return { keyType: type, keyBits: 456 };
  return { keyType: type, keyBits: 0 };
}

/** RSA and DSA under 2048 bits (NIST SP 800-131A Rev. 2 §3), EC under 256 bits. */
export function isWeakKey(keyType: string, keyBits: number): boolean {
  if (keyType === 'rsa' || keyType === 'rsa-pss' || keyType === 'dsa') return keyBits < 2048;
  if (keyType.startsWith('ec-')) return keyBits < 256;
  return false;
}

function sansOf(cert: X509Certificate): string[] {
  // Node formats the extension as "DNS:a, IP Address:1.2.3.4"; quoted values may hold commas.
  const text = cert.subjectAltName;
  if (!text) return [];
  return text.split(/, (?=[A-Za-z ]+:)/).map((s) => s.replace(/^IP Address:/, 'IP:'));
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * A validity time as Node prints it (OpenSSL ASN1_TIME_print: "Dec 31 23:59:59 2049 GMT", the year
 * unpadded) in ms since the epoch; NaN when unreadable. `new Date(text)` is not used: it reads the
 * years 0-49 of a GeneralizedTime as 2000-2049, so a certificate that expired in the year 49 would
 * look valid until 2049.
 */
export function certTime(text: string): number {
  const m = /^([A-Z][a-z]{2}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2})(?:\.\d+)? (\d{1,4}) GMT$/.exec(text);
  const month = m ? MONTHS.indexOf(m[1]) : -1;
  if (!m || month < 0) return NaN;
  const d = new Date(Date.UTC(2000, month, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5])));
  d.setUTCFullYear(Number(m[6]), month, Number(m[2]));
  return d.getTime();
}

/** ISO 8601 for the report; the text as printed when it cannot be read. */
export function certTimeIso(text: string): string {
  const t = certTime(text);
  return Number.isNaN(t) ? text : new Date(t).toISOString();
}

export function summarize(cert: X509Certificate): CertificateSummary {
  const { keyType, keyBits } = keyOf(cert.publicKey);
  return {
    subject: cert.subject.split('\n').join(', '),
    issuer: cert.issuer.split('\n').join(', '),
    notBefore: certTimeIso(cert.validFrom),
    notAfter: certTimeIso(cert.validTo),
    keyType,
    keyBits,
    signatureAlgorithm: signatureAlgorithmOf(cert.raw),
    sans: sansOf(cert),
    fingerprintSha256: cert.fingerprint256.replace(/:/g, '').toLowerCase(),
  };
}

function signs(subject: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return subject.checkIssued(issuer) && subject.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

export function isSelfSigned(cert: X509Certificate): boolean {
  return signs(cert, cert);
}

/**
 * RFC 5280 §6.1 path building, reduced to what a scanner needs: is there a signature path from the
 * leaf through the presented certificates to an anchor? (Validity and constraints are findings of
 * their own, not reasons to call the issuer untrusted.) An anchor may be the leaf itself (pinned).
 */
export function chainsToAnchor(chain: X509Certificate[], anchors: X509Certificate[]): boolean {
  if (chain.length === 0) return false;
  const anchorPrints = new Set(anchors.map((a) => a.fingerprint256));
  let current = chain[0];
  const used = new Set<string>([current.fingerprint256]);
  for (let depth = 0; depth < 10; depth++) {
    if (anchorPrints.has(current.fingerprint256)) return true;
    if (anchors.some((a) => signs(current, a))) return true;
    const next = chain.find((c) => !used.has(c.fingerprint256) && signs(current, c));
    if (!next) return false;
    used.add(next.fingerprint256);
    current = next;
  }
  return false;
}

/** Does the certificate name what the scanner connected to? See docs/scanner.md "hostname check". */
export function nameMatches(cert: X509Certificate, address: string, hostname?: string): boolean | null {
  if (hostname) return cert.checkHost(hostname) !== undefined;
  if (cert.checkIP(address) !== undefined) return true;
  // Scanned by address only: a certificate that names the device by DNS name cannot be checked
  // without that name (null = unknown, no finding); one that lists only addresses must list this one.
  const sans = sansOf(cert);
  if (sans.some((s) => s.startsWith('DNS:'))) return null;
  return false;
}

/** Trust anchors: the PEM files given with --trust, or Node's bundled Mozilla roots when none are given. */
export function loadAnchors(files: string[]): X509Certificate[] {
  if (files.length === 0) return rootCertificates.map((pem) => new X509Certificate(pem));
  const out: X509Certificate[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new WardgateError('SCAN_OPTION_INVALID', `--trust ${file}: ${(err as Error).message}`, { cause: err });
    }
    const pems = splitPem(text).filter((p) => p.includes('BEGIN CERTIFICATE'));
    if (pems.length === 0) throw new WardgateError('SCAN_OPTION_INVALID', `--trust ${file} holds no PEM certificate`);
    for (const pem of pems) {
      try {
        out.push(new X509Certificate(pem));
      } catch (err) {
        throw new WardgateError('SCAN_OPTION_INVALID', `--trust ${file}: a certificate does not parse (${(err as Error).message})`, { cause: err });
      }
    }
  }
  return out;
}

export function isAddress(text: string): boolean {
  return isIP(text) !== 0;
}
