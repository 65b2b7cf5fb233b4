/** Records the store keeps. Timestamps are ISO-8601 strings in UTC; binary data is base64 or PEM. */

export type CertificateStatus = 'valid' | 'revoked';

export interface CertificateRecord {
  /** Lower-case hex, no leading zero byte: 128 random bits. */
  serial: string;
  issuerId: string;
  profile: string;
  /** DNS names and IP addresses, in the order of the SAN extension. */
  names: string[];
  notBefore: string;
  notAfter: string;
  status: CertificateStatus;
  revokedAt?: string;
  /** RFC 5280 §5.3.1 CRLReason code. */
  revocationReason?: number;
  /** ACME account that ordered it, if any. */
  accountId?: string;
  /** ACME order it completes, if any (lets a restart tell a finished order from an interrupted one). */
  orderId?: string;
  pem: string;
  /** RFC 9773 renewal hint set by `wardgate renew-early`: renew from this instant on. */
  renewAfter?: string;
  createdAt: string;
}

export interface CertificateQuery {
  status?: CertificateStatus;
  issuerId?: string;
  /** Only certificates with notAfter before this instant. */
  expiringBefore?: string;
  limit?: number;
  offset?: number;
}

export interface AuditEntry {
  seq: number;
  at: string;
  /** Stable event name, e.g. `ca.init`, `cert.issue`, `cert.revoke`. */
  event: string;
  actor: string;
  data: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

export type NewAuditEntry = Pick<AuditEntry, 'event' | 'actor' | 'data'>;

export interface RevokedEntry {
  serial: string;
  revokedAt: string;
  reason: number;
}
