import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate, id_ce_subjectAltName, SubjectAlternativeName, type Extension, type GeneralName } from '@peculiar/asn1-x509';
import { canonicalIp } from '../../pki/ip.ts';
import { failure } from './failure.ts';
import { keyAuthorizationDigest } from './key-authorization.ts';
import type { Identifier } from './types.ts';

/** RFC 8737 §6.1 id-pe-acmeIdentifier. */
export const ACME_IDENTIFIER_OID = '1.3.6.1.5.5.7.1.31';

function sameIp(a: string, b: string): boolean {
  try {
    return canonicalIp(a) === canonicalIp(b);
  } catch {
    return false;
  }
}

/**
 * RFC 5280 §4.2: an extension appears at most once. A second copy is refused rather than ignored, so a
 * check can never read one copy while a TLS library or a human reads the other.
 */
function single(extensions: readonly Extension[], oid: string, name: string, where: string): Extension | undefined {
  const found = extensions.filter((e) => e.extnID === oid);
  if (found.length > 1) throw failure('incorrectResponse', `${where} presented a certificate with ${found.length} ${name} extensions (RFC 5280 §4.2 allows one)`);
  return found[0];
}

function show(name: GeneralName): string {
  if (name.dNSName !== undefined) return `dns:${name.dNSName}`;
  if (name.iPAddress !== undefined) return `ip:${name.iPAddress}`;
  const [field, value] = Object.entries(name).find(([, v]) => v !== undefined) ?? ['unknown', undefined];
  return typeof value === 'string' ? `${field}:${value}` : field;
}

/**
 * Every GeneralName of the subjectAltName, read from the DER itself: @peculiar/x509's parsed view leaves
 * out names it has no rendering for (an unregistered otherName), which would let a second entry slip past
 * the "no other entries" rule of RFC 8737 §3, and throws on names it cannot decode.
 */
function subjectAltNames(extensions: readonly Extension[], where: string): GeneralName[] {
  const ext = single(extensions, id_ce_subjectAltName, 'subjectAltName', where);
  if (!ext) return [];
  try {
    return [...AsnConvert.parse(ext.extnValue.buffer, SubjectAlternativeName)];
  } catch {
    throw failure('incorrectResponse', `${where} presented a certificate whose subjectAltName extension is not a valid GeneralNames sequence (RFC 5280 §4.2.1.6)`);
  }
}

/**
 * RFC 8737 §3 checks on the presented certificate: a subjectAltName with exactly the one identifier
 * (dNSName, compared case-insensitively, or iPAddress for RFC 8738 §6) and no other entries, and a
 * critical acmeIdentifier extension whose value is the DER OCTET STRING of SHA-256(keyAuthorization).
 */
export function checkAcmeTlsCertificate(der: Uint8Array, identifier: Identifier, keyAuthorization: string, where: string): void {
  let extensions: Extension[];
  try {
    extensions = AsnConvert.parse(der, Certificate).tbsCertificate.extensions ?? [];
  } catch {
    throw failure('incorrectResponse', `${where} presented a certificate that is not a DER X.509 certificate (RFC 5280 §4.1)`);
  }
  const names = subjectAltNames(extensions, where);
  const wantIp = identifier.type === 'ip';
  const [only] = names;
  const matches = names.length === 1 && (wantIp
    ? only.iPAddress !== undefined && sameIp(only.iPAddress, identifier.value)
    : only.dNSName !== undefined && only.dNSName.toLowerCase() === identifier.value.replace(/\.$/, '').toLowerCase());
  if (!matches) {
    throw failure('incorrectResponse', `${where} presented a certificate whose subjectAltName is [${names.map(show).join(', ') || 'none'}]; RFC 8737 §3 requires exactly one ${wantIp ? 'iPAddress' : 'dNSName'} ${identifier.value}`);
  }
  const ext = single(extensions, ACME_IDENTIFIER_OID, 'acmeIdentifier', where);
  if (!ext) throw failure('incorrectResponse', `${where} presented a certificate without the acmeIdentifier extension (${ACME_IDENTIFIER_OID}, RFC 8737 §3)`);
  if (!ext.critical) throw failure('incorrectResponse', `${where} presented an acmeIdentifier extension that is not critical (RFC 8737 §3 requires critical)`);
  const value = Buffer.from(ext.extnValue.buffer);
  const digest = keyAuthorizationDigest(keyAuthorization);
  if (value.length !== 34 || value[0] !== 0x04 || value[1] !== 0x20) {
    throw failure('incorrectResponse', `${where} presented an acmeIdentifier value that is not a 32-byte OCTET STRING (got ${value.subarray(0, 40).toString('hex')}${value.length > 40 ? `… (${value.length} bytes)` : ''})`);
  }
  if (!value.subarray(2).equals(digest)) {
    throw failure('unauthorized', `${where} presented acmeIdentifier ${value.subarray(2).toString('hex')}, not SHA-256 of the key authorization (${digest.toString('hex')})`);
  }
}
