import { isIP } from 'node:net';
import { domainToASCII, domainToUnicode } from 'node:url';
import { WardgateError } from '../errors.ts';
import { canonicalIp } from './ip.ts';

export type Identifier = { type: 'dns'; value: string } | { type: 'ip'; value: string };

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/**
 * Why an LDH label is not usable, or undefined. RFC 5890 §2.3.1: a label with "--" in positions 3-4 is
 * reserved; only "xn--" is assigned, and such an A-label must be the Punycode of a valid U-label (RFC 5891
 * §5.4, CA/B BR 7.1.4.2), which it is when it decodes and encodes back to itself: otherwise two spellings,
 * or none, stand for one name.
 */
function labelProblem(label: string): string | undefined {
  if (label.slice(2, 4) !== '--') return undefined;
  if (!label.startsWith('xn--')) return `label "${label}" is reserved (RFC 5890 §2.3.1: "--" in positions 3-4 is for "xn--" A-labels only)`;
  const unicode = domainToUnicode(label);
  if (unicode === '' || domainToASCII(unicode) !== label) return `label "${label}" is not a valid IDNA A-label (it does not decode to a Unicode label that encodes back to it)`;
  return undefined;
}

/**
 * A host name as a certificate may carry it: ASCII only, lower-case LDH labels, at most 253 characters, no trailing
 * dot. Wildcards are refused: devices get names of their own (and name constraints treat `*` oddly).
 */
export function normalizeDnsName(name: string): string {
  // RFC 8555 §7.1.4 and RFC 5280 §4.2.1.6: ASCII only (IDNs as A-labels). Checked before lower-casing, which
  // folds U+212A KELVIN SIGN into "k", and before trim(), which strips Unicode spaces: no other name may pass as this one.
  if (/[^\x00-\x7f]/.test(name)) throw new WardgateError('NAME_INVALID', `"${name}" is not a valid DNS name: only ASCII is allowed (write an IDN as its xn-- A-label)`);
  const n = name.trim().toLowerCase().replace(/\.$/, '');
  const labels = n.split('.');
  if (n.length === 0 || n.length > 253 || !labels.every((l) => LABEL.test(l)) || isIP(n)) {
    throw new WardgateError('NAME_INVALID', `"${name}" is not a valid DNS name`);
  }
  const problem = labels.map(labelProblem).find((p) => p !== undefined);
  if (problem) throw new WardgateError('NAME_INVALID', `"${name}" is not a valid DNS name: ${problem}`);
  return n;
}

export function normalizeIdentifier(id: Identifier): Identifier {
  return id.type === 'dns' ? { type: 'dns', value: normalizeDnsName(id.value) } : { type: 'ip', value: canonicalIp(id.value) };
}

/** Parses a command-line name: an IP address becomes an `ip` identifier, anything else a `dns` one. */
export function identifierFromText(text: string): Identifier {
  return isIP(text) ? { type: 'ip', value: canonicalIp(text) } : { type: 'dns', value: normalizeDnsName(text) };
}
