import { isIP } from 'node:net';
import { WardgateError } from '../errors.ts';
import { canonicalIp } from './ip.ts';

export type Identifier = { type: 'dns'; value: string } | { type: 'ip'; value: string };

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/**
 * A host name as a certificate may carry it: ASCII only, lower-case LDH labels, at most 253 characters, no trailing
 * dot. Wildcards are refused: devices get names of their own (and name constraints treat `*` oddly).
 */
export function normalizeDnsName(name: string): string {
  // RFC 8555 §7.1.4 and RFC 5280 §4.2.1.6: ASCII only (IDNs as A-labels). Checked before lower-casing, which
  // folds U+212A KELVIN SIGN into "k", and before trim(), which strips Unicode spaces: no other name may pass as this one.
  if (/[^\x00-\x7f]/.test(name)) throw new WardgateError('NAME_INVALID', `"${name}" is not a valid DNS name: only ASCII is allowed (write an IDN as its xn-- A-label)`);
  const n = name.trim().toLowerCase().replace(/\.$/, '');
  if (n.length === 0 || n.length > 253 || !n.split('.').every((l) => LABEL.test(l)) || isIP(n)) {
    throw new WardgateError('NAME_INVALID', `"${name}" is not a valid DNS name`);
  }
  return n;
}

export function normalizeIdentifier(id: Identifier): Identifier {
  return id.type === 'dns' ? { type: 'dns', value: normalizeDnsName(id.value) } : { type: 'ip', value: canonicalIp(id.value) };
}

/** Parses a command-line name: an IP address becomes an `ip` identifier, anything else a `dns` one. */
export function identifierFromText(text: string): Identifier {
  return isIP(text) ? { type: 'ip', value: canonicalIp(text) } : { type: 'dns', value: normalizeDnsName(text) };
}
