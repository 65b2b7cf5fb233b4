import { createCipheriv, pbkdf2Sync, randomBytes } from 'node:crypto';
import { derSequence, derTlv } from './der.ts';
import { derIntegerHex, derOid } from './leaf-encoding.ts';
import { KDF_ID, pkcs12Kdf } from './pkcs12-kdf.ts';

/** Password-based encryption of one PKCS#12 part: the AlgorithmIdentifier to store and the ciphertext. */
export interface Encrypted { algorithm: Uint8Array; ciphertext: Buffer }

const OID = {
  pbes2: '1.2.840.113549.1.5.13', pbkdf2: '1.2.840.113549.1.5.12', hmacWithSha256: '1.2.840.113549.2.9',
  aes256Cbc: '2.16.840.1.101.3.4.1.42', pbeSha1TripleDes: '1.2.840.113549.1.12.1.3',
} as const;

const NULL = Uint8Array.of(0x05, 0x00);
export const derInteger = (n: number): Uint8Array => derIntegerHex(n.toString(16));
const octets = (b: Uint8Array): Uint8Array => derTlv(0x04, b);

/**
 * RFC 8018 §6.2 PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC, the scheme OpenSSL 3 writes by default.
 * Built here rather than with KeyObject.export({ cipher }) because that uses OpenSSL's fixed count
 * (2,048); the count is ours to choose. The password goes to PBKDF2 as UTF-8, as OpenSSL passes it.
 */
export function encryptPbes2(password: string, plaintext: Uint8Array, iterations: number): Encrypted {
  const salt = randomBytes(16);
  const iv = randomBytes(16);
  const key = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const cipher = createCipheriv('aes-256-cbc', key, iv);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  // keyLength is omitted: AES-256 fixes it (RFC 8018 A.2 makes it optional).
  const kdf = derSequence([derOid(OID.pbkdf2), derSequence([octets(salt), derInteger(iterations), derSequence([derOid(OID.hmacWithSha256), NULL])])]);
  const scheme = derSequence([derOid(OID.aes256Cbc), octets(iv)]);
  return { algorithm: derSequence([derOid(OID.pbes2), derSequence([kdf, scheme])]), ciphertext };
}

/**
 * RFC 7292 Appendix C pbeWithSHAAnd3-KeyTripleDES-CBC: key and IV from the Appendix B derivation with
 * SHA-1, an 8-byte salt, as `openssl pkcs12 -export -legacy` writes for the key bag.
 */
export function encryptPkcs12TripleDes(password: string, plaintext: Uint8Array, iterations: number): Encrypted {
  const salt = randomBytes(8);
  const key = pkcs12Kdf('sha1', password, salt, KDF_ID.key, iterations, 24);
  const iv = pkcs12Kdf('sha1', password, salt, KDF_ID.iv, iterations, 8);
  const cipher = createCipheriv('des-ede3-cbc', key, iv);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { algorithm: derSequence([derOid(OID.pbeSha1TripleDes), derSequence([octets(salt), derInteger(iterations)])]), ciphertext };
}
