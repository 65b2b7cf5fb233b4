import type { AcmeStore } from './acme-store.ts';
import type {
  AuditEntry, CertificateQuery, CertificateRecord, NewAuditEntry, RevokedEntry,
} from './types.ts';

/**
 * The persistence contract every backend (SQLite now, PostgreSQL later) fulfils.
 *
 * - Every method that returns normally has made its write durable (fsync'd): a kill -9 right after
 *   `insertCertificate` returns loses nothing.
 * - State changes are compare-and-swap: `revokeCertificate` changes only a `valid` certificate and
 *   reports whether it did; callers never read-then-write.
 * - Writes that belong together (a certificate and its audit entry) happen in one transaction.
 * - Safe for use by several processes on the same data dir (the SQLite backend serialises writers).
 */
export interface Store {
  /** ACME server state (accounts, orders, authorizations, challenges, EAB keys). */
  readonly acme: AcmeStore;

  /** Inserts the certificate and appends its audit entry atomically. */
  insertCertificate(cert: CertificateRecord, audit?: NewAuditEntry): void;
  getCertificate(serial: string): CertificateRecord | undefined;
  listCertificates(query?: CertificateQuery): CertificateRecord[];
  countCertificates(query?: CertificateQuery): number;
  /** CAS valid -> revoked. Returns false when the certificate was not `valid` (or does not exist). */
  revokeCertificate(serial: string, reason: number, at: string, audit?: NewAuditEntry): boolean;
  /** Revoked certificates of one issuer that have not yet expired (for the CRL). */
  listRevoked(issuerId: string, now: string): RevokedEntry[];
  /**
   * How many certificates of one issuer were ever revoked. Revocation never undoes (valid -> revoked
   * only), so this changes exactly when one more is: the CRL cache's cheap change check.
   */
  countRevoked(issuerId: string): number;
  /** Sets an early-renewal instant (ARI) on the given serials; returns how many changed. */
  setRenewAfter(serials: string[] | 'all', at: string, audit?: NewAuditEntry): number;
  /** Next value of a named monotonic counter (CRL numbers). */
  nextCounter(name: string): number;

  appendAudit(entry: NewAuditEntry): AuditEntry;
  /** Audit entries in sequence order. */
  readAudit(fromSeq?: number, limit?: number): AuditEntry[];
  auditHead(): { seq: number; hash: string };

  /** Writes a consistent copy of the whole store to `path` while it stays online. */
  backupTo(path: string): Promise<void>;
  /** Runs the backend's integrity check; throws STORE_CORRUPT when it fails. */
  checkIntegrity(): void;
  close(): void;
}
