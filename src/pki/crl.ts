import { signingAlgorithm } from './key-types.ts';
import type { IssuerHandle } from './leaf.ts';
import { x509 } from './x509.ts';
import { derTlv } from './der.ts';
import type { RevokedEntry } from '../store/types.ts';

const CRL_NUMBER_OID = '2.5.29.20';

function crlNumberExtension(n: number): x509.Extension {
  // CRLNumber ::= INTEGER (RFC 5280 §5.2.3), positive: pad when the top bit is set.
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
  if (bytes.length === 0 || bytes[0] & 0x80) bytes.unshift(0);
  return new x509.Extension(CRL_NUMBER_OID, false, derTlv(0x02, Uint8Array.from(bytes)) as Uint8Array<ArrayBuffer>);
}

/**
 * A complete CRL for one issuer (RFC 5280 §5): every revoked certificate of that issuer that has not
 * expired, with its reason; a fresh CRL number each time; valid for `validityHours`.
 */
export async function buildCrl(issuer: IssuerHandle, revoked: RevokedEntry[], crlNumber: number, validityHours = 24, now = Date.now()): Promise<x509.X509Crl> {
  return x509.X509CrlGenerator.create({
    issuer: issuer.cert.subjectName,
    thisUpdate: new Date(now),
    nextUpdate: new Date(now + validityHours * 3_600_000),
    signingAlgorithm: signingAlgorithm(issuer.key.type),
    signingKey: issuer.key.signingKey,
    extensions: [
      await x509.AuthorityKeyIdentifierExtension.create(issuer.cert),
      crlNumberExtension(crlNumber),
    ],
    entries: revoked.map((r) => ({
      serialNumber: Number.parseInt(r.serial[0], 16) >= 8 ? `00${r.serial}` : r.serial,
      revocationDate: new Date(r.revokedAt),
      // RFC 5280 §5.3.1: the reasonCode extension is omitted rather than "unspecified".
      reason: r.reason === 0 ? undefined : (r.reason as x509.X509CrlReason),
    })),
  });
}
