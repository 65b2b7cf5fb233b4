import { createCipheriv, createPrivateKey, pbkdf2Sync, randomBytes, webcrypto, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync, unlinkSync, mkdirSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { WardgateError } from '../errors.ts';
import { writeFileAtomic } from '../store/atomic-file.ts';
import { derSequence, derTlv } from './der.ts';
import { children, oidText, readTlv } from './der-reader.ts';
import { generationParams, importParams, keyTypeOf, type KeyType } from './key-types.ts';
import { derIntegerHex, derOid } from './leaf-encoding.ts';
import { toPem } from './pem.ts';

export interface KeyHandle {
  id: string;
  type: KeyType;
  /** For WebCrypto signing (certificate and CRL generation). */
  signingKey: CryptoKey;
  publicKey: CryptoKey;
}

/**
 * Where CA private keys live. Callers only ever get a signing handle, never key bytes, so that a PKCS#11
 * (HSM) implementation can take this place: generate inside the device, sign inside the device.
 * `exportWrapped`/`importWrapped` move a key in its encrypted form (root offline, backups); an HSM
 * implementation may refuse them.
 */
export interface KeyStore {
  generate(id: string, type: KeyType): Promise<KeyHandle>;
  get(id: string): Promise<KeyHandle>;
  has(id: string): boolean;
  exportWrapped(id: string): string;
  importWrapped(id: string, wrapped: string): Promise<KeyHandle>;
  /** Decrypts a wrapped key for use in this process only; nothing is written. */
  unwrap(id: string, wrapped: string): Promise<KeyHandle>;
  remove(id: string): void;
}

/**
 * PBKDF2-HMAC-SHA256 rounds for key files (OWASP 2023: 600,000). Node's own PKCS#8 export uses OpenSSL's
 * default of 2,048, which lets whoever can read the data dir try passphrases ~300 times faster; it also
 * makes the key files far cheaper to attack than backups of them (scrypt, ~100 ms per guess).
 */
export const KEY_FILE_PBKDF2_ITERATIONS = 600_000;

/**
 * RFC 8018 PBES2 EncryptedPrivateKeyInfo (RFC 5958 §3): PBKDF2-HMAC-SHA256 with our iteration count,
 * AES-256-CBC. Standard PKCS#8, so OpenSSL (and `createPrivateKey`) read it like Node's own export.
 */
function encryptPkcs8(key: KeyObject, passphrase: string): string {
  const salt = randomBytes(16);
  const iv = randomBytes(16);
  const kek = pbkdf2Sync(passphrase, salt, KEY_FILE_PBKDF2_ITERATIONS, 32, 'sha256');
  const plain = key.export({ format: 'der', type: 'pkcs8' });
  const cipher = createCipheriv('aes-256-cbc', kek, iv);
  const encrypted = Buffer.concat([cipher.update(plain), cipher.final()]);
  plain.fill(0);
  kek.fill(0);
  const pbkdf2 = derSequence([derOid('1.2.840.113549.1.5.12'), derSequence([
    derTlv(0x04, salt), derIntegerHex(KEY_FILE_PBKDF2_ITERATIONS.toString(16)),
    derSequence([derOid('1.2.840.113549.2.9'), Uint8Array.of(0x05, 0x00)]), // hmacWithSHA256
  ])]);
  const aes = derSequence([derOid('2.16.840.1.101.3.4.1.42'), derTlv(0x04, iv)]); // aes256-CBC
  const algorithm = derSequence([derOid('1.2.840.113549.1.5.13'), derSequence([pbkdf2, aes])]); // PBES2
  return toPem('ENCRYPTED PRIVATE KEY', derSequence([algorithm, derTlv(0x04, encrypted)]));
}

/** True when the PEM opens without a passphrase (an encrypted key throws ERR_MISSING_PASSPHRASE). */
export function isPlaintextKeyPem(pem: string): boolean {
  try {
    createPrivateKey({ key: pem, format: 'pem' });
    return true;
  } catch {
    return false;
  }
}

/**
 * The PBKDF2 iteration count of an encrypted PKCS#8 PEM (RFC 8018 PBES2), or 0 when it is not one
 * (another scheme, or not encrypted): EncryptedPrivateKeyInfo { AlgorithmIdentifier { pbes2, { keyDerivationFunc
 * { pbkdf2, { salt, iterationCount, ... } }, encryptionScheme } }, encryptedData }.
 */
export function pbkdf2Iterations(pem: string): number {
  try {
    const der = new Uint8Array(Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64'));
    const [algorithm] = children(der, readTlv(der, 0));
    const [scheme, params] = children(der, algorithm);
    if (oidText(der.subarray(scheme.valueStart, scheme.end)) !== '1.2.840.113549.1.5.13') return 0;
    const [kdf] = children(der, params);
    const [kdfOid, kdfParams] = children(der, kdf);
    if (oidText(der.subarray(kdfOid.valueStart, kdfOid.end)) !== '1.2.840.113549.1.5.12') return 0;
    const count = children(der, kdfParams)[1];
    if (count?.tag !== 0x02) return 0;
    return Number(BigInt(`0x${Buffer.from(der.subarray(count.valueStart, count.end)).toString('hex') || '0'}`));
  } catch {
    return 0;
  }
}

/**
 * Keys as passphrase-encrypted PKCS#8 PEM files (see encryptPkcs8), mode 0600. Files written before
 * KEY_FILE_PBKDF2_ITERATIONS (OpenSSL's 2,048 rounds) still open, and are re-encrypted when they do. Decrypted keys are held only as
 * non-extractable CryptoKeys in memory.
 */
export class FileKeyStore implements KeyStore {
  private readonly cache = new Map<string, KeyHandle>();

  constructor(private readonly dir: string, private readonly passphrase: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  private path(id: string): string {
    if (!/^[a-z0-9][a-z0-9-]*$/.test(id)) throw new WardgateError('KEY_NOT_FOUND', `invalid key id "${id}"`);
    return join(this.dir, `${id}.key.pem`);
  }

  has(id: string): boolean {
    return existsSync(this.path(id));
  }

  async generate(id: string, type: KeyType): Promise<KeyHandle> {
    const pair = await webcrypto.subtle.generateKey(generationParams(type), true, ['sign', 'verify']) as webcrypto.CryptoKeyPair;
    const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', pair.privateKey));
    const keyObject = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
    pkcs8.fill(0);
    writeFileAtomic(this.path(id), this.encrypt(keyObject), 0o600);
    return this.load(id, keyObject);
  }

  async get(id: string): Promise<KeyHandle> {
    const cached = this.cache.get(id);
    if (cached) return cached;
    if (!this.has(id)) throw new WardgateError('KEY_NOT_FOUND', `key "${id}" is not in ${this.dir}`);
    const pem = readFileSync(this.path(id), 'utf8');
    const keyObject = this.decrypt(id, pem);
    // A file from before KEY_FILE_PBKDF2_ITERATIONS (or written by hand) is re-encrypted once it opened:
    // existing CAs get the stronger key derivation without a migration step. Atomic, same key, same mode.
    // Best effort: a read-only data dir still opens, and tries again next time.
    if (pbkdf2Iterations(pem) < KEY_FILE_PBKDF2_ITERATIONS) {
      try {
        writeFileAtomic(this.path(id), this.encrypt(keyObject), 0o600);
      } catch { /* left as it was */ }
    }
    return this.load(id, keyObject);
  }

  exportWrapped(id: string): string {
    if (!this.has(id)) throw new WardgateError('KEY_NOT_FOUND', `key "${id}" is not in ${this.dir}`);
    return readFileSync(this.path(id), 'utf8');
  }

  async importWrapped(id: string, wrapped: string): Promise<KeyHandle> {
    const keyObject = this.decrypt(id, wrapped);
    writeFileAtomic(this.path(id), this.encrypt(keyObject), 0o600);
    chmodSync(this.path(id), 0o600);
    return this.load(id, keyObject);
  }

  unwrap(id: string, wrapped: string): Promise<KeyHandle> {
    return this.load(id, this.decrypt(id, wrapped), false);
  }

  remove(id: string): void {
    this.cache.delete(id);
    if (this.has(id)) unlinkSync(this.path(id));
  }

  private encrypt(key: KeyObject): string {
    return encryptPkcs8(key, this.passphrase);
  }

  private decrypt(id: string, pem: string): KeyObject {
    try {
      return createPrivateKey({ key: pem, format: 'pem', passphrase: this.passphrase });
    } catch (err) {
      // Never include the passphrase or key material in the message.
      throw new WardgateError('PASSPHRASE_WRONG', `cannot decrypt CA key "${id}": wrong WARDGATE_CA_PASSPHRASE or damaged key file`, { cause: (err as NodeJS.ErrnoException).code });
    }
  }

  private async load(id: string, keyObject: KeyObject, cache = true): Promise<KeyHandle> {
    const type = keyTypeOf(keyObject.asymmetricKeyType, keyObject.asymmetricKeyDetails ?? {});
    if (!type) throw new WardgateError('KEY_NOT_FOUND', `key "${id}" has an unsupported type`);
    const der = keyObject.export({ format: 'der', type: 'pkcs8' });
    const signingKey = await webcrypto.subtle.importKey('pkcs8', der, importParams(type), false, ['sign']) as unknown as CryptoKey;
    der.fill(0);
    const jwk = keyObject.export({ format: 'jwk' });
    const pubJwk = type.startsWith('rsa') ? { kty: jwk.kty, n: jwk.n, e: jwk.e } : { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y };
    const publicKey = await webcrypto.subtle.importKey('jwk', pubJwk, importParams(type), true, ['verify']) as unknown as CryptoKey;
    const handle: KeyHandle = { id, type, signingKey, publicKey };
    if (cache) this.cache.set(id, handle);
    return handle;
  }
}
