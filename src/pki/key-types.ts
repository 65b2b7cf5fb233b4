import { WardgateError } from '../errors.ts';

/** Key types wardgate generates and accepts: ECDSA on P-256/P-384 and RSA of 2048+ bits (RFC 9325 §4.3 sizes). */
export type KeyType = 'ecdsa-p256' | 'ecdsa-p384' | 'rsa-2048' | 'rsa-3072' | 'rsa-4096';
export const KEY_TYPES: readonly KeyType[] = ['ecdsa-p256', 'ecdsa-p384', 'rsa-2048', 'rsa-3072', 'rsa-4096'];

export function parseKeyType(value: string): KeyType {
  if ((KEY_TYPES as readonly string[]).includes(value)) return value as KeyType;
  throw new WardgateError('CLI_ARGUMENT', `unknown key type "${value}" (expected one of ${KEY_TYPES.join(', ')})`);
}

export function isRsa(k: KeyType): boolean {
  return k.startsWith('rsa-');
}

export function generationParams(k: KeyType): RsaHashedKeyGenParams | EcKeyGenParams {
  if (isRsa(k)) {
    return { name: 'RSASSA-PKCS1-v1_5', modulusLength: Number(k.slice(4)), publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' };
  }
  return { name: 'ECDSA', namedCurve: k === 'ecdsa-p384' ? 'P-384' : 'P-256' };
}

/** WebCrypto import parameters for a PKCS#8 key of this type, usable for signing. */
export function importParams(k: KeyType): RsaHashedImportParams | EcKeyImportParams {
  if (isRsa(k)) return { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  return { name: 'ECDSA', namedCurve: k === 'ecdsa-p384' ? 'P-384' : 'P-256' };
}

/** Signature algorithm an issuer with this key uses: hash strength matched to the key (RFC 5758 §3.2). */
export function signingAlgorithm(k: KeyType): Algorithm | EcdsaParams {
  if (isRsa(k)) return { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as Algorithm;
  return { name: 'ECDSA', hash: k === 'ecdsa-p384' ? 'SHA-384' : 'SHA-256' } as EcdsaParams;
}

interface KeyDetails { modulusLength?: number; namedCurve?: string; publicExponent?: bigint }

/** Classifies a Node KeyObject-like description into a KeyType, or undefined when wardgate does not accept it. */
export function keyTypeOf(asymmetricKeyType: string | undefined, details: KeyDetails): KeyType | undefined {
  if (asymmetricKeyType === 'rsa') {
    // CA/B BR §6.1.6: the exponent MUST be odd and at least 3. With e = 1 a "signature" is the padded hash
    // itself, so the CSR's proof of possession proves nothing and anyone can sign with the certified key.
    const e = details.publicExponent;
    if (e === undefined || e < 3n || e % 2n === 0n) return undefined;
    const bits = details.modulusLength ?? 0;
    if (bits === 2048 || bits === 3072 || bits === 4096) return `rsa-${bits}` as KeyType;
    return undefined;
  }
  if (asymmetricKeyType === 'ec') {
    if (details.namedCurve === 'prime256v1' || details.namedCurve === 'P-256') return 'ecdsa-p256';
    if (details.namedCurve === 'secp384r1' || details.namedCurve === 'P-384') return 'ecdsa-p384';
  }
  return undefined;
}

/** Human description of a key for error messages, e.g. "RSA-1024" or "EC secp256k1". */
export function describeKey(asymmetricKeyType: string | undefined, details: KeyDetails): string {
  if (asymmetricKeyType === 'rsa') return `RSA-${details.modulusLength}${details.publicExponent === 65537n ? '' : ` with public exponent ${details.publicExponent}`}`;
  if (asymmetricKeyType === 'ec') return `EC ${details.namedCurve}`;
  return asymmetricKeyType ?? 'unknown key';
}
