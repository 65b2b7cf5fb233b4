import { x509 } from '../pki/x509.ts';
import { normalizeSerial } from '../pki/serial.ts';
import type { CertificateRecord } from '../store/types.ts';
import { AcmeProblem } from './problems.ts';

/** RFC 9773 §4.1: certID = base64url(AKI keyIdentifier) "." base64url(DER serial content octets). */
export function certIdOf(pem: string): string {
  const cert = new x509.X509Certificate(pem);
  const aki = cert.getExtension(x509.AuthorityKeyIdentifierExtension);
  if (!aki?.keyId) throw new Error('certificate has no Authority Key Identifier');
  return formatCertId(aki.keyId, cert.serialNumber);
}

/** The one spelling of a certID: the serial as DER INTEGER content octets (a 00 byte before a high bit). */
function formatCertId(akiHex: string, serial: string): string {
  let serialHex = normalizeSerial(serial);
  if (serialHex.length % 2) serialHex = `0${serialHex}`;
  if (parseInt(serialHex.slice(0, 2), 16) & 0x80) serialHex = `00${serialHex}`;
  return `${Buffer.from(akiHex, 'hex').toString('base64url')}.${Buffer.from(serialHex, 'hex').toString('base64url')}`;
}

/**
 * parseCertId also accepts a serial without its DER sign byte (mod_md 2.6.10 sends those) or with extra
 * leading zeros; whatever is kept or compared must use this canonical form, or one certificate has several.
 */
export function canonicalCertId(id: ParsedCertId): string {
  return formatCertId(id.akiHex, id.serial);
}

export interface ParsedCertId { akiHex: string; serial: string }

export function parseCertId(id: string): ParsedCertId {
  const m = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(id);
  if (!m) throw new AcmeProblem('malformed', `"${id}" is not an ARI certID (base64url(AKI).base64url(serial), RFC 9773 §4.1)`);
  const aki = Buffer.from(m[1], 'base64url');
  const serial = Buffer.from(m[2], 'base64url');
  if (aki.length === 0 || serial.length === 0 || serial.length > 21) throw new AcmeProblem('malformed', `"${id}" is not a well-formed ARI certID`);
  return { akiHex: aki.toString('hex'), serial: normalizeSerial(serial.toString('hex')) };
}

/**
 * The certID names this certificate: its serial, and as AKI the key identifier of the issuer that
 * signed it (what the certificate carries as its AKI), without parsing the certificate per request.
 */
export function certIdMatches(id: ParsedCertId, record: CertificateRecord, issuerKeyIdHex: string): boolean {
  return id.akiHex === issuerKeyIdHex.toLowerCase() && id.serial === normalizeSerial(record.serial);
}

/**
 * RFC 9773 §4.2 suggested renewal window. Normally the window opens when a third of the lifetime is
 * left (the renewal point certmagic and most clients use) and lasts a ninth of the lifetime, so a fleet
 * spreads its renewals. `wardgate renew-early` and revocation move it to "now": a window in the past
 * tells clients to renew at once (§4.2).
 */
export function suggestedWindow(record: CertificateRecord, now = Date.now()): { start: string; end: string; explanation?: string } {
  if (record.status === 'revoked') {
    const at = Date.parse(record.revokedAt ?? new Date(now).toISOString());
    return { start: new Date(at - 3_600_000).toISOString(), end: new Date(at).toISOString(), explanation: 'revoked' };
  }
  if (record.renewAfter) {
    // Clients renew at a random time inside the window (§4.2), so a window that merely opens now spreads
    // "renew now" over its whole length (mod_md waited up to an hour): it must end when renew-early ran.
    const at = Date.parse(record.renewAfter);
    return { start: new Date(at - 3_600_000).toISOString(), end: new Date(at).toISOString(), explanation: 'renew-early' };
  }
  const nb = Date.parse(record.notBefore);
  const na = Date.parse(record.notAfter);
  const life = na - nb;
  const start = na - life / 3;
  return { start: new Date(start).toISOString(), end: new Date(start + life / 9).toISOString() };
}
