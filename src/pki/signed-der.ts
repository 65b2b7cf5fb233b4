import { verify, type KeyObject } from 'node:crypto';
import { children, oidText, readTlv } from './der-reader.ts';

/** Signature algorithms devices and CAs use (CSRs, CRLs), verified with node:crypto (OpenSSL) directly. */
const HASH_BY_OID: Record<string, string> = {
  '1.2.840.10045.4.3.2': 'sha256', '1.2.840.10045.4.3.3': 'sha384', '1.2.840.10045.4.3.4': 'sha512', // ecdsa-with-SHA*
  '1.2.840.113549.1.1.11': 'sha256', '1.2.840.113549.1.1.12': 'sha384', '1.2.840.113549.1.1.13': 'sha512', // sha*WithRSAEncryption
};

/**
 * The signature of a signed DER structure, SEQUENCE { toBeSigned, signatureAlgorithm, BIT STRING }:
 * a CSR's proof of possession (RFC 2986 §4.2) or a CRL's signature (RFC 5280 §5.1), over the exact
 * bytes signed. Returns undefined for algorithms not in the table (e.g. RSASSA-PSS), so the caller can
 * fall back to a general (slower) path or decide on its own.
 */
export function verifySignedDer(der: Uint8Array, key: KeyObject): boolean | undefined {
  const outer = readTlv(der, 0);
  const [info, alg, sig] = children(der, outer);
  if (!info || !alg || !sig || sig.tag !== 0x03) return undefined;
  const algOid = children(der, alg)[0];
  if (!algOid || algOid.tag !== 0x06) return undefined;
  const hash = HASH_BY_OID[oidText(der.subarray(algOid.valueStart, algOid.end))];
  if (!hash) return undefined;
  if (der[sig.valueStart] !== 0) return false; // BIT STRING with unused bits: not a signature
  return verify(hash, der.subarray(info.start, info.end), key, der.subarray(sig.valueStart + 1, sig.end));
}
