import { createPublicKey, type KeyObject } from 'node:crypto';
import type { AcmeAccount } from '../store/acme-types.ts';

/**
 * The account key as a node:crypto KeyObject, cached by thumbprint: finalize compares it with the
 * CSR's key (RFC 8555 §11.1: a certificate key must not be the account key). KeyObject.equals
 * compares the keys themselves, whatever encoding the CSR used (compressed EC point or not), and
 * needs no thumbprint of the CSR key per order. Bounded; oldest entries go first.
 */
const cache = new Map<string, KeyObject>();
const CACHE_MAX = 10_000;

export function accountPublicKey(account: Pick<AcmeAccount, 'jwk' | 'thumbprint'>): KeyObject {
  const hit = cache.get(account.thumbprint);
  if (hit) return hit;
  const key = createPublicKey({ key: account.jwk as never, format: 'jwk' });
  cache.set(account.thumbprint, key);
  if (cache.size > CACHE_MAX) cache.delete(cache.keys().next().value!);
  return key;
}
