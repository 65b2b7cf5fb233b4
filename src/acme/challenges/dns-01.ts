import { failure, preview } from './failure.ts';
import { dns01TxtValue } from './key-authorization.ts';
import { resolveTxtRecords } from './resolve.ts';
import { checkIdentifierShape } from './targets.ts';
import type { Identifier, ValidationOptions } from './types.ts';

/**
 * RFC 8555 §8.4: some TXT record at _acme-challenge.NAME equals base64url(SHA-256(keyAuthorization)).
 * Only the configured resolvers are asked (split horizon); no connection to the device is made, so the
 * validation allow-list does not apply. IP identifiers have no dns-01 (RFC 8738 §7).
 */
export async function validateDns01(identifier: Identifier, _token: string, keyAuthorization: string, opts: ValidationOptions, signal: AbortSignal): Promise<undefined> {
  if (identifier.type === 'ip') throw failure('rejectedIdentifier', `dns-01 cannot validate IP identifier ${identifier.value} (RFC 8738 §7); use http-01 or tls-alpn-01`);
  checkIdentifierShape(identifier);
  const name = `_acme-challenge.${identifier.value.replace(/\.$/, '')}`;
  const expected = dns01TxtValue(keyAuthorization);
  const records = await resolveTxtRecords(name, opts, signal);
  if (records.length === 0) throw failure('unauthorized', `no TXT record at ${name}; expected one with "${expected}"`);
  if (!records.includes(expected)) {
    throw failure('unauthorized', `no TXT record at ${name} matches "${expected}" (found ${records.length}: ${preview(records.join(' '))})`);
  }
  return undefined;
}
