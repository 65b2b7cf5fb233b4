import { randomBytes } from 'node:crypto';
import { WardgateError } from '../errors.ts';
import { parseCidr } from '../pki/ip.ts';
import { normalizeDnsName } from '../pki/names.ts';
import { assertPermitted, type NamePolicy } from '../pki/name-constraints.ts';
import type { AcmeStore } from '../store/acme-store.ts';
import type { EabKey } from '../store/acme-types.ts';

/**
 * Makes an External Account Binding key (RFC 8555 §7.3.4): a key id and a 256-bit HMAC key the admin
 * hands to one device. Names bound to it (exact names, or `.suffix` for everything below) limit what
 * that device's account may order: on a flat LAN, http-01 alone would let any host that answers for an
 * address obtain, say, the PACS's name.
 */
export function createEabKey(store: AcmeStore, policy: NamePolicy, opts: { label?: string; allowDns?: string[]; allowIp?: string[] }): EabKey {
  const allowDns = (opts.allowDns ?? []).map((n) => {
    const suffix = n.startsWith('.') || n.startsWith('*.');
    const name = normalizeDnsName(n.replace(/^\*?\./, ''));
    assertPermitted({ type: 'dns', value: name }, policy);
    return suffix ? `.${name}` : name;
  });
  const allowIp = (opts.allowIp ?? []).map((c) => {
    try {
      parseCidr(c);
    } catch {
      throw new WardgateError('CLI_ARGUMENT', `--allow-ip "${c}" is not a CIDR`);
    }
    return c;
  });
  const key: EabKey = {
    kid: `kid-${randomBytes(9).toString('base64url')}`, hmacKey: newHmacKey(), label: opts.label,
    allowDns, allowIp, createdAt: new Date().toISOString(),
  };
  store.insertEabKey(key);
  return key;
}

/**
 * 256 random bits, base64url. A key whose text starts with '-' is drawn again: certbot's argument parser takes
 * `--eab-hmac-key -x...` for a missing value plus an unknown option, so one admin in 64 would be told the key
 * is wrong. Redrawing costs less than 0.03 bits of the 256.
 */
export function newHmacKey(): string {
  for (;;) {
    const key = randomBytes(32).toString('base64url');
    if (!key.startsWith('-')) return key;
  }
}
