import { WardgateError } from '../errors.ts';
import { concat, derSequence, derTlv } from './der.ts';
import { cidrContains, cidrToConstraintBytes, parseCidr, type Cidr } from './ip.ts';
import { normalizeDnsName, type Identifier } from './names.ts';
import { x509 } from './x509.ts';

export const NAME_CONSTRAINTS_OID = '2.5.29.30';

/** What the CA may sign for: DNS suffixes and IP ranges. Empty lists mean "no names of that type". */
export interface NamePolicy {
  permitDns: string[];
  permitIp: string[];
}

export function normalizePolicy(p: NamePolicy): NamePolicy {
  return {
    // A leading dot ("rad.klinikum.internal" vs ".rad.klinikum.internal") would exclude the suffix
    // itself in some validators; store the plain form, which permits the suffix and every name below it.
    permitDns: [...new Set(p.permitDns.map((d) => normalizeDnsName(d.replace(/^\.+/, ''))))],
    permitIp: [...new Set(p.permitIp.map((c) => parseCidr(c).text))],
  };
}

const GN_DNS = 0x82; // [2] IMPLICIT IA5String
const GN_IP = 0x87; // [7] IMPLICIT OCTET STRING

function subtree(generalName: Uint8Array): Uint8Array {
  // GeneralSubtree ::= SEQUENCE { base GeneralName, minimum [0] DEFAULT 0, maximum [1] OPTIONAL } (RFC 5280 §4.2.1.10);
  // DER omits the default minimum.
  return derSequence([generalName]);
}

const dnsSubtree = (suffix: string) => subtree(derTlv(GN_DNS, new TextEncoder().encode(suffix)));
const ipSubtree = (c: Cidr) => subtree(derTlv(GN_IP, cidrToConstraintBytes(c)));

/**
 * RFC 5280 §4.2.1.10 name constraints for a CA certificate: the permitted subtrees of the policy, and an
 * excluded subtree for every name type the policy permits nothing of. Without those exclusions a type with
 * no permitted subtree would be unconstrained: a leaked key could sign any IP address, or any public DNS
 * name. An empty dNSName matches every DNS name; 0.0.0.0/0 and ::/0 match every address.
 */
export function buildNameConstraints(policy: NamePolicy, critical: boolean): x509.Extension {
  const permitted: Uint8Array[] = [
    ...policy.permitDns.map(dnsSubtree),
    ...policy.permitIp.map((c) => ipSubtree(parseCidr(c))),
  ];
  const excluded: Uint8Array[] = [];
  if (policy.permitDns.length === 0) excluded.push(dnsSubtree(''));
  if (policy.permitIp.length === 0) {
    excluded.push(ipSubtree(parseCidr('0.0.0.0/0')), ipSubtree(parseCidr('::/0')));
  }
  const parts: Uint8Array[] = [];
  // permittedSubtrees [0] IMPLICIT GeneralSubtrees, excludedSubtrees [1] IMPLICIT GeneralSubtrees
  if (permitted.length) parts.push(derTlv(0xa0, concat(permitted)));
  if (excluded.length) parts.push(derTlv(0xa1, concat(excluded)));
  return new x509.Extension(NAME_CONSTRAINTS_OID, critical, derSequence(parts) as Uint8Array<ArrayBuffer>);
}

/** True when `suffix` permits `name`: the name equals the suffix or ends with "." + suffix. */
export function dnsWithin(name: string, suffix: string): boolean {
  return name === suffix || name.endsWith(`.${suffix}`);
}

/** Throws NAME_NOT_PERMITTED unless the identifier lies inside the policy. */
export function assertPermitted(id: Identifier, policy: NamePolicy): void {
  if (id.type === 'dns') {
    if (policy.permitDns.some((s) => dnsWithin(id.value, s))) return;
    throw new WardgateError('NAME_NOT_PERMITTED',
      `DNS name ${id.value} is outside this CA's name constraints (permitted: ${policy.permitDns.join(', ') || 'no DNS names'})`);
  }
  if (policy.permitIp.some((c) => cidrContains(parseCidr(c), id.value))) return;
  throw new WardgateError('NAME_NOT_PERMITTED',
    `IP address ${id.value} is outside this CA's name constraints (permitted: ${policy.permitIp.join(', ') || 'no IP addresses'})`);
}
