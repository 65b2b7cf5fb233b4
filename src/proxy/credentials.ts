/**
 * Certificate/key/trust files of a route. Several cert/key pairs may be given (an ECDSA and an RSA
 * chain side by side): OpenSSL picks per handshake the one the peer's signature algorithms allow, so
 * RSA-only TLS 1.2 peers still connect while modern ones get ECDSA.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { WardgateError } from '../errors.ts';

export interface KeyPair {
  /** PEM chain, leaf first. */
  cert: string;
  key: string;
}

export interface Credentials {
  pairs: KeyPair[];
}

function read(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new WardgateError('TLS_CREDENTIALS_INVALID', `cannot read ${what} ${file}: ${(err as Error).message}`);
  }
}

/** The leaf (first certificate) of a PEM chain. */
export function leafOf(chainPem: string, where = 'certificate'): X509Certificate {
  try {
    return new X509Certificate(chainPem);
  } catch (err) {
    throw new WardgateError('TLS_CREDENTIALS_INVALID', `${where} is not a PEM certificate: ${(err as Error).message}`);
  }
}

/** Check that the key belongs to the leaf, so a mix-up fails at start-up rather than at the first handshake. */
export function checkPair(pair: KeyPair, where: string): KeyPair {
  const leaf = leafOf(pair.cert, where);
  let key;
  try {
    key = createPrivateKey(pair.key);
  } catch (err) {
    throw new WardgateError('TLS_CREDENTIALS_INVALID', `${where}: key is not a PEM private key: ${(err as Error).message}`);
  }
  if (!leaf.checkPrivateKey(key)) throw new WardgateError('TLS_CREDENTIALS_INVALID', `${where}: the key does not match the certificate ${leaf.subject.replace(/\n/g, ', ')}`);
  return pair;
}

export function loadKeyPairs(certFiles: string[], keyFiles: string[]): Credentials {
  if (certFiles.length !== keyFiles.length) {
    throw new WardgateError('TLS_CREDENTIALS_INVALID', `${certFiles.length} certificate file(s) but ${keyFiles.length} key file(s): give one key per certificate`);
  }
  return {
    pairs: certFiles.map((c, i) => checkPair({ cert: read(c, 'certificate'), key: read(keyFiles[i], 'key') }, `${c} / ${keyFiles[i]}`)),
  };
}

export function loadTrustBundle(file: string): string {
  const text = read(file, 'trust bundle');
  if (!text.includes('-----BEGIN CERTIFICATE-----')) throw new WardgateError('TLS_CREDENTIALS_INVALID', `trust bundle ${file} holds no PEM certificate`);
  return text;
}

/** Seconds until the earliest leaf among the pairs expires (for the metrics endpoint). */
export function secondsUntilExpiry(creds: Credentials, now = Date.now()): number[] {
  return creds.pairs.map((p) => (new Date(leafOf(p.cert).validTo).getTime() - now) / 1000);
}
