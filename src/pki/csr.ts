import { createPublicKey, type KeyObject } from 'node:crypto';
import { WardgateError } from '../errors.ts';
import { describeKey, keyTypeOf, type KeyType } from './key-types.ts';
import { normalizeIdentifier, identifierFromText, type Identifier } from './names.ts';
import { x509 } from './x509.ts';
import { verifySignedDer } from './signed-der.ts';
import { readCsr, type CsrParts } from './csr-der.ts';
import { children, readTlv } from './der-reader.ts';

export interface ParsedCsr {
  keyType: KeyType;
  /** SubjectPublicKeyInfo DER. */
  spki: Uint8Array;
  /** The same key, parsed (already needed for the signature check). */
  publicKey: KeyObject;
  commonName?: string;
  /** SAN entries (DNS and IP), normalized, in order; the CN is not included. */
  sanIdentifiers: Identifier[];
  /** CN (if it is a name) and SAN entries, de-duplicated: what offline issuance certifies. */
  identifiers: Identifier[];
}

function toDer(input: string | Uint8Array): Uint8Array {
  if (typeof input !== 'string') {
    const head = Buffer.from(input.subarray(0, 11)).toString('latin1');
    return head.startsWith('-----BEGIN') ? toDer(Buffer.from(input).toString('latin1')) : input;
  }
  const t = input.trim();
  if (t.includes('-----BEGIN')) {
    const m = /-----BEGIN (?:NEW )?CERTIFICATE REQUEST-----([\s\S]*?)-----END (?:NEW )?CERTIFICATE REQUEST-----/.exec(t);
    if (!m) throw new WardgateError('CSR_INVALID', 'PEM input holds no CERTIFICATE REQUEST block');
    return new Uint8Array(Buffer.from(m[1].replace(/\s/g, ''), 'base64'));
  }
  return new Uint8Array(Buffer.from(t, 'base64url'));
}

/** SubjectPublicKeyInfo ::= SEQUENCE { algorithm SEQUENCE { OID, parameters }, BIT STRING }: parameters is an OID. */
function hasNamedCurve(spki: Uint8Array): boolean {
  const [algorithm] = children(spki, readTlv(spki, 0));
  return children(spki, algorithm)[1]?.tag === 0x06;
}

/**
 * Parses a PKCS#10 request (PEM, DER, or ACME's base64url DER) and checks what holds for every profile:
 * the self-signature verifies (RFC 2986 §3: proof of possession), the key is RSA 2048/3072/4096 or ECDSA
 * P-256/P-384, and every SAN entry is a DNS name or IP address.
 */
export async function parseCsr(input: string | Uint8Array): Promise<ParsedCsr> {
  const der = toDer(input);
  let parts: CsrParts;
  try {
    parts = readCsr(der);
  } catch (err) {
    throw new WardgateError('CSR_INVALID', `CSR cannot be parsed as PKCS#10: ${(err as Error).message}`);
  }
  // The key is judged before the signature: a key we refuse (RSA-1024, secp256k1) deserves that
  // precise answer, and WebCrypto cannot even verify signatures made with some of those curves.
  const spki = parts.spki;
  let key;
  try {
    key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch (err) {
    throw new WardgateError('CSR_INVALID', `CSR public key cannot be read: ${(err as Error).message}`);
  }
  const details = key.asymmetricKeyDetails ?? {};
  const keyType = keyTypeOf(key.asymmetricKeyType, details);
  if (!keyType) {
    throw new WardgateError('CSR_KEY_REJECTED',
      `CSR key ${describeKey(key.asymmetricKeyType, details)} is not allowed (use RSA 2048/3072/4096 with an odd public exponent >= 3, or ECDSA P-256/P-384)`);
  }
  // The SPKI goes into the certificate byte for byte. OpenSSL reports explicit curve parameters that
  // equal P-256 as prime256v1, but RFC 5480 §2.1.1 allows only namedCurve, and strict validators refuse
  // such a certificate: the parameters must be the curve's OID.
  if (key.asymmetricKeyType === 'ec' && !hasNamedCurve(spki)) {
    throw new WardgateError('CSR_KEY_REJECTED', 'CSR key is an EC key with explicit curve parameters; only named curves are allowed (RFC 5480 §2.1.1)');
  }

  let ok: boolean | undefined = false;
  try {
    // Common algorithms are verified on the raw DER; others (RSASSA-PSS) through @peculiar/x509.
    ok = verifySignedDer(parts.der, key) ?? await new x509.Pkcs10CertificateRequest(parts.der as Uint8Array<ArrayBuffer>).verify();
  } catch (err) {
    throw new WardgateError('CSR_INVALID', `CSR signature cannot be checked: ${(err as Error).message}`);
  }
  if (!ok) throw new WardgateError('CSR_INVALID', 'CSR signature does not verify (the request was altered or not signed by its key)');

  // A second CN would be certified by no one and checked by no one: refused like any other name the request cannot carry.
  if (parts.commonNames.length > 1) throw new WardgateError('CSR_INVALID', `CSR subject holds ${parts.commonNames.length} common names; put every name in subjectAltName`);
  const cnText = parts.commonNames[0];
  const sanIdentifiers: Identifier[] = [];
  for (const n of parts.sanEntries) {
    if (n.type === 'other') throw new WardgateError('CSR_INVALID', `CSR requests a ${n.kind} subject alternative name; only DNS names and IP addresses are issued`);
    sanIdentifiers.push(normalizeIdentifier(n));
  }
  const identifiers = [...sanIdentifiers];
  if (cnText) {
    const cnId = identifierFromText(cnText);
    if (!identifiers.some((i) => i.type === cnId.type && i.value === cnId.value)) identifiers.unshift(cnId);
  }
  if (identifiers.length === 0) throw new WardgateError('CSR_INVALID', 'CSR names no DNS name or IP address (neither in CN nor in subjectAltName)');
  return { keyType, spki, publicKey: key, commonName: cnText, sanIdentifiers, identifiers };
}
