import { createHash, createHmac, createPrivateKey, randomBytes, X509Certificate, type KeyObject } from 'node:crypto';
import { WardgateError } from '../errors.ts';
import { concat, derSequence, derTlv } from './der.ts';
import { derOid } from './leaf-encoding.ts';
import { KDF_ID, pkcs12Kdf } from './pkcs12-kdf.ts';
import { derInteger, encryptPbes2, encryptPkcs12TripleDes, type Encrypted } from './pkcs12-pbe.ts';

/**
 * PKCS#12 (RFC 7292) bundles for devices that can only import a .p12: the key, the leaf and the whole
 * chain up to the root, in that order, in password privacy and password integrity mode.
 *
 * modern (default), as OpenSSL 3 writes by default but with 100,000 iterations instead of 2,048:
 *   key in a PKCS#8 shrouded key bag under PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC), certificates in a
 *   plain (unencrypted) SafeContents, SHA-256 MacData. Certificates are public (the device sends them in
 *   every handshake); encrypting them hides nothing and costs an importer another password derivation.
 *   The MAC still covers them. 100,000 iterations on both the key and the MAC: a guesser attacks the
 *   cheaper of the two, so they must match; a device import is a one-off. The generated password (96
 *   random bits) needs no stretching; a password chosen by an admin does.
 * legacy, as `openssl pkcs12 -export -legacy` writes, for importers that know neither PBES2 nor a SHA-256
 *   MAC: pbeWithSHAAnd3-KeyTripleDES-CBC for the key and for the certificates (OpenSSL writes 40-bit RC2
 *   for these, which Node's OpenSSL 3 has only in the legacy provider; 3DES is the other algorithm every
 *   PKCS#12 reader knows), SHA-1 MAC, 2,048 iterations: some old importers take very long over, or
 *   refuse, large counts.
 */
export type Pkcs12Mode = 'modern' | 'legacy';

const MODES = {
  modern: { iterations: 100_000, mac: 'sha256', macSaltBytes: 16, encryptKey: encryptPbes2, encryptCerts: undefined },
  legacy: { iterations: 2_048, mac: 'sha1', macSaltBytes: 8, encryptKey: encryptPkcs12TripleDes, encryptCerts: encryptPkcs12TripleDes },
} as const satisfies Record<Pkcs12Mode, { iterations: number; mac: 'sha1' | 'sha256'; macSaltBytes: number; encryptKey: Encryptor; encryptCerts: Encryptor | undefined }>;
type Encryptor = (password: string, plaintext: Uint8Array, iterations: number) => Encrypted;

export const PKCS12_ITERATIONS: Record<Pkcs12Mode, number> = { modern: MODES.modern.iterations, legacy: MODES.legacy.iterations };

const OID = {
  data: '1.2.840.113549.1.7.1', encryptedData: '1.2.840.113549.1.7.6',
  shroudedKeyBag: '1.2.840.113549.1.12.10.1.2', certBag: '1.2.840.113549.1.12.10.1.3', x509Certificate: '1.2.840.113549.1.9.22.1',
  friendlyName: '1.2.840.113549.1.9.20', localKeyId: '1.2.840.113549.1.9.21',
  sha1: '1.3.14.3.2.26', sha256: '2.16.840.1.101.3.4.2.1',
} as const;

const NULL = Uint8Array.of(0x05, 0x00);
const octets = (b: Uint8Array): Uint8Array => derTlv(0x04, b);
const explicit0 = (inner: Uint8Array): Uint8Array => derTlv(0xa0, inner);
/** X.690 §11.6: DER orders SET OF elements by their encodings. */
const derSetOf = (parts: Uint8Array[]): Uint8Array => derTlv(0x31, concat([...parts].sort((a, b) => Buffer.compare(a, b))));

/** Reads the device's private key (PKCS#8, PKCS#1 or SEC1 PEM, unencrypted) for a bundle. */
export function readBundleKey(keyPem: string): KeyObject {
  try {
    return createPrivateKey({ key: keyPem, format: 'pem' });
  } catch (err) {
    throw new WardgateError('PKCS12_INPUT_INVALID', `the private key cannot be read (an unencrypted PEM key is needed): ${(err as Error).message}`, { cause: err });
  }
}

export interface Pkcs12Options {
  keyPem: string;
  /** Leaf first, then each issuer up to and including the root. */
  chainPem: string[];
  password: string;
  friendlyName?: string;
  mode?: Pkcs12Mode;
}

export function buildPkcs12(opts: Pkcs12Options): { der: Buffer } {
  const mode = MODES[opts.mode ?? 'modern'];
  if (opts.password.length === 0) throw new WardgateError('PKCS12_INPUT_INVALID', 'the PKCS#12 password is empty (importers disagree on how to derive keys from an empty password)');
  const key = readBundleKey(opts.keyPem);
  const certs = opts.chainPem.map((pem, i) => {
    try {
      return new X509Certificate(pem);
    } catch (err) {
      throw new WardgateError('PKCS12_INPUT_INVALID', `certificate ${i + 1} of the chain cannot be parsed: ${(err as Error).message}`, { cause: err });
    }
  });
  if (certs.length === 0) throw new WardgateError('PKCS12_INPUT_INVALID', 'no certificate given for the bundle');
  if (!certs[0].checkPrivateKey(key)) throw new WardgateError('PKCS12_INPUT_INVALID', 'the private key does not belong to the leaf certificate');

  // localKeyId ties the key bag to its certificate; OpenSSL uses the SHA-1 of the certificate, so do we.
  const attributes = bagAttributes(createHash('sha1').update(certs[0].raw).digest(), opts.friendlyName);
  const certBags = certs.map((c, i) => safeBag(OID.certBag, derSequence([derOid(OID.x509Certificate), explicit0(octets(c.raw))]), i === 0 ? attributes : undefined));
  const pkcs8 = key.export({ type: 'pkcs8', format: 'der' });
  const shrouded = mode.encryptKey(opts.password, pkcs8, mode.iterations);
  const keyBag = safeBag(OID.shroudedKeyBag, derSequence([shrouded.algorithm, octets(shrouded.ciphertext)]), attributes);

  const certContents = derSequence(certBags);
  const authSafe = derSequence([
    mode.encryptCerts ? encryptedContentInfo(mode.encryptCerts(opts.password, certContents, mode.iterations)) : dataContentInfo(certContents),
    dataContentInfo(derSequence([keyBag])),
  ]);
  const pfx = derSequence([derInteger(3), dataContentInfo(authSafe), macData(mode.mac, opts.password, authSafe, mode.iterations, mode.macSaltBytes)]);
  return { der: Buffer.from(pfx) };
}

function bagAttributes(localKeyId: Uint8Array, friendlyName: string | undefined): Uint8Array {
  const attrs = [derSequence([derOid(OID.localKeyId), derSetOf([octets(localKeyId)])])];
  if (friendlyName) attrs.push(derSequence([derOid(OID.friendlyName), derSetOf([derTlv(0x1e, Buffer.from(friendlyName, 'utf16le').swap16())])]));
  return derSetOf(attrs);
}

/** RFC 7292 §4.2: SafeBag ::= SEQUENCE { bagId, bagValue [0] EXPLICIT, bagAttributes SET OF OPTIONAL }. */
function safeBag(bagId: string, value: Uint8Array, attributes: Uint8Array | undefined): Uint8Array {
  return derSequence([derOid(bagId), explicit0(value), ...(attributes ? [attributes] : [])]);
}

/** RFC 2315 §7 ContentInfo of type data: [0] EXPLICIT OCTET STRING. */
function dataContentInfo(content: Uint8Array): Uint8Array {
  return derSequence([derOid(OID.data), explicit0(octets(content))]);
}

/** RFC 2315 §13 EncryptedData, version 0, with the encrypted content as [0] IMPLICIT OCTET STRING. */
function encryptedContentInfo(e: Encrypted): Uint8Array {
  const eci = derSequence([derOid(OID.data), e.algorithm, derTlv(0x80, e.ciphertext)]);
  return derSequence([derOid(OID.encryptedData), explicit0(derSequence([derInteger(0), eci]))]);
}

/** RFC 7292 §4 MacData: HMAC over the AuthenticatedSafe octets, keyed by Appendix B with ID 3. */
function macData(hash: 'sha1' | 'sha256', password: string, authSafe: Uint8Array, iterations: number, saltBytes: number): Uint8Array {
  const salt = randomBytes(saltBytes);
  const key = pkcs12Kdf(hash, password, salt, KDF_ID.mac, iterations, hash === 'sha1' ? 20 : 32);
  const mac = createHmac(hash, key).update(authSafe).digest();
  const digestInfo = derSequence([derSequence([derOid(hash === 'sha1' ? OID.sha1 : OID.sha256), NULL]), octets(mac)]);
  return derSequence([digestInfo, octets(salt), derInteger(iterations)]);
}
