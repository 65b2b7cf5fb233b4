import { createPublicKey } from 'node:crypto';
import { WardgateError } from '../errors.ts';
import { describeKey, keyTypeOf, type KeyType } from './key-types.ts';
import { normalizeIdentifier, identifierFromText, type Identifier } from './names.ts';
import { x509 } from './x509.ts';
import { verifyCsrSignature } from './csr-signature.ts';

export interface ParsedCsr {
  csr: x509.Pkcs10CertificateRequest;
  keyType: KeyType;
  /** SubjectPublicKeyInfo DER. */
  spki: Uint8Array;
  commonName?: string;
  /** SAN entries (DNS and IP), normalized, in order; the CN is not included. */
  sanIdentifiers: Identifier[];
  /** CN (if it is a name) and SAN entries, de-duplicated: what offline issuance certifies. */
  identifiers: Identifier[];
}

function decode(input: string | Uint8Array): x509.Pkcs10CertificateRequest {
  try {
    if (typeof input === 'string') {
      const text = input.trim();
      if (!text.includes('-----BEGIN')) return new x509.Pkcs10CertificateRequest(Buffer.from(text, 'base64url'));
      return new x509.Pkcs10CertificateRequest(text);
    }
    return new x509.Pkcs10CertificateRequest(input as Uint8Array<ArrayBuffer>);
  } catch (err) {
    throw new WardgateError('CSR_INVALID', `CSR cannot be parsed as PKCS#10: ${(err as Error).message}`);
  }
}

/**
 * Parses a PKCS#10 request (PEM, DER, or ACME's base64url DER) and checks what holds for every profile:
 * the self-signature verifies (RFC 2986 §3: proof of possession), the key is RSA 2048/3072/4096 or ECDSA
 * P-256/P-384, and every SAN entry is a DNS name or IP address.
 */
export async function parseCsr(input: string | Uint8Array): Promise<ParsedCsr> {
  const csr = decode(input);
  // The key is judged before the signature: a key we refuse (RSA-1024, secp256k1) deserves that
  // precise answer, and WebCrypto cannot even verify signatures made with some of those curves.
  const spki = new Uint8Array(csr.publicKey.rawData);
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
      `CSR key ${describeKey(key.asymmetricKeyType, details)} is not allowed (use RSA 2048/3072/4096 or ECDSA P-256/P-384)`);
  }

  let ok: boolean | undefined = false;
  try {
    ok = verifyCsrSignature(new Uint8Array(csr.rawData), key) ?? await csr.verify();
  } catch (err) {
    throw new WardgateError('CSR_INVALID', `CSR signature cannot be checked: ${(err as Error).message}`);
  }
  if (!ok) throw new WardgateError('CSR_INVALID', 'CSR signature does not verify (the request was altered or not signed by its key)');

  const cnText = csr.subjectName.getField('CN')[0];
  const sanIdentifiers: Identifier[] = [];
  const sanRaw = csr.getExtension('2.5.29.17');
  const san = sanRaw ? new x509.SubjectAlternativeNameExtension(sanRaw.rawData) : undefined;
  if (san) {
    for (const n of san.names.items) {
      if (n.type === 'dns') sanIdentifiers.push(normalizeIdentifier({ type: 'dns', value: n.value }));
      else if (n.type === 'ip') sanIdentifiers.push(normalizeIdentifier({ type: 'ip', value: n.value }));
      else throw new WardgateError('CSR_INVALID', `CSR requests a ${n.type} subject alternative name; only DNS names and IP addresses are issued`);
    }
  }
  const identifiers = [...sanIdentifiers];
  if (cnText) {
    const cnId = identifierFromText(cnText);
    if (!identifiers.some((i) => i.type === cnId.type && i.value === cnId.value)) identifiers.unshift(cnId);
  }
  if (identifiers.length === 0) throw new WardgateError('CSR_INVALID', 'CSR names no DNS name or IP address (neither in CN nor in subjectAltName)');
  return { csr, keyType, spki, commonName: cnText, sanIdentifiers, identifiers };
}
