import { isIP } from 'node:net';
import { failure } from './failure.ts';
import { isAllowed, parseNetworks } from './networks.ts';
import { resolveAddresses } from './resolve.ts';
import type { Identifier, ValidationOptions } from './types.ts';

/**
 * The addresses a validation may connect to for an identifier: the IP itself (RFC 8738 §3 and §4), or
 * the name's A/AAAA records (RFC 8555 §8.3), filtered through the allow-list before any connection is
 * made. When nothing is left the identifier is refused with every address named, so the admin sees
 * that a public (or unlisted) address, not a dead device, is the problem.
 */
export interface Targets {
  /** Allowed addresses, in the order to try. */
  addresses: string[];
  /** For problem details: the addresses that were left out, if any. */
  note: string;
}

export async function validationTargets(identifier: Identifier, opts: ValidationOptions, signal: AbortSignal): Promise<Targets> {
  const addresses = identifier.type === 'ip' ? [identifier.value] : await resolveAddresses(identifier.value, opts, signal);
  const networks = parseNetworks(opts.allowedNetworks);
  const allowed = addresses.filter((a) => isAllowed(a, networks));
  if (allowed.length === 0) {
    const source = identifier.type === 'ip' ? `IP identifier ${identifier.value}` : `${identifier.value} resolves to ${addresses.join(', ')}, which`;
    throw failure('rejectedIdentifier',
      `${source} ${identifier.type === 'ip' ? 'is' : 'are all'} outside the networks validation may connect to (${opts.allowedNetworks.join(', ') || 'none'}); no connection was made`);
  }
  const refused = addresses.filter((a) => !allowed.includes(a));
  return { addresses: allowed, note: refused.length ? ` (not contacted, outside the validation networks: ${refused.join(', ')})` : '' };
}

/** RFC 8555 §7.1.4 `dns` identifiers are names, RFC 8738 §3 `ip` identifiers are addresses; no wildcards here. */
export function checkIdentifierShape(identifier: Identifier): void {
  if (identifier.type === 'ip') {
    if (!isIP(identifier.value)) throw failure('rejectedIdentifier', `"${identifier.value}" is not an IP address (RFC 8738 §3)`);
    return;
  }
  if (identifier.type !== 'dns') throw failure('rejectedIdentifier', `identifier type "${String(identifier.type)}" is not supported (dns, ip)`);
  if (identifier.value.startsWith('*.')) throw failure('rejectedIdentifier', `wildcard ${identifier.value}: this CA does not issue wildcard certificates`);
  if (isIP(identifier.value)) throw failure('rejectedIdentifier', `"${identifier.value}" is an IP address: use an "ip" identifier (RFC 8738)`);
  if (!/^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/i.test(identifier.value)) {
    throw failure('rejectedIdentifier', `"${identifier.value}" is not a DNS name`);
  }
}
