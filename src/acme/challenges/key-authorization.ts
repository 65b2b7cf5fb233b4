import { createHash } from 'node:crypto';

/** SHA-256 of the key authorization (RFC 8737 §3 acmeIdentifier value, RFC 8555 §8.4 TXT value). */
export function keyAuthorizationDigest(keyAuthorization: string): Buffer {
  return createHash('sha256').update(keyAuthorization, 'utf8').digest();
}

/** RFC 8555 §8.4: the TXT record holds base64url(SHA-256(keyAuthorization)), unpadded. */
export function dns01TxtValue(keyAuthorization: string): string {
  return keyAuthorizationDigest(keyAuthorization).toString('base64url');
}

/** RFC 8555 §8.1: tokens are base64url; anything else must never reach a URL path. */
export function isValidToken(token: string): boolean {
  return /^[A-Za-z0-9_-]{1,256}$/.test(token);
}
