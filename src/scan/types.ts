/**
 * Shapes shared by the scan pipeline: targets -> discovery -> probes -> findings -> reports.
 * `ServiceResult` is the JSON report contract of issue 5 (docs/scan-report.md): one per open port.
 */

export type Protocol = 'dicom' | 'hl7' | 'other';
export type Severity = 'critical' | 'high' | 'medium' | 'low' | 'info';
export type Lang = 'en' | 'de';

export const FINDING_IDS = [
  'plaintext-dicom',
  'plaintext-hl7',
  'cert-expired',
  'cert-not-yet-valid',
  'cert-expiring-soon',
  'cert-self-signed',
  'cert-untrusted-issuer',
  'cert-weak-key',
  'cert-weak-signature',
  'cert-hostname-mismatch',
  'tls-legacy-version',
  'tls-weak-cipher',
  'dicom-any-ae-accepted',
  'dicom-known-vulnerable',
] as const;
export type FindingId = (typeof FINDING_IDS)[number];

export interface Finding {
  id: FindingId;
  severity: Severity;
  title: string;
  recommendation: string;
  /** Facts behind the finding (e.g. the advisory matched, the cipher accepted). */
  detail?: string;
}

export interface CertificateSummary {
  subject: string;
  issuer: string;
  notBefore: string;
  notAfter: string;
  keyType: string;
  keyBits: number;
  signatureAlgorithm: string;
  sans: string[];
  fingerprintSha256: string;
}

export interface DicomDetails {
  association: 'accepted' | 'rejected' | 'aborted';
  /** A-ASSOCIATE-RJ (PS3.8 Table 9-21) or A-ABORT (Table 9-26) as text. */
  rejection?: string;
  implementationClassUid?: string;
  implementationVersionName?: string;
  /** True when a random called AE title was accepted as well; undefined when not tested. */
  anyAeAccepted?: boolean;
  advisories?: string[];
}

export interface Hl7Details {
  /** MSA-1 of the receiver's answer (AA, AE, AR, CA, CE, CR). */
  ackCode: string;
  sendingApplication?: string;
  version?: string;
}

export interface TlsDetails {
  version: string;
  cipher: string;
  /** TLS 1.0 / 1.1 versions the endpoint also accepted. */
  legacyVersions: string[];
  /** Weak suites (3DES, NULL, anonymous, ...) the endpoint accepted when only those were offered. */
  weakCiphers: string[];
  chainLength: number;
  trusted: boolean;
  selfSigned: boolean;
  hostnameChecked: string;
  hostnameMatches: boolean | null;
}

export interface ServiceResult {
  address: string;
  /** The name the target was given as, when it was a hostname. */
  hostname?: string;
  port: number;
  protocol: Protocol;
  tls: boolean;
  tlsVersion?: string;
  certificate?: CertificateSummary;
  findings: Finding[];
  tlsDetails?: TlsDetails;
  dicom?: DicomDetails;
  hl7?: Hl7Details;
  /** Why a port that accepted a connection could not be classified (timeout, reset, ...). */
  note?: string;
  durationMs: number;
}

export interface ScanMeta {
  tool: 'wardgate';
  version: string;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  targets: string[];
  excluded: string[];
  ports: number[];
  shard?: { index: number; count: number };
  limits: { ratePerSecond: number; perHost: number; timeoutMs: number };
  hostsScanned: number;
  portsProbed: number;
  connections: number;
  lang: Lang;
  /** Set when the scan was stopped early (Ctrl-C): why, and how far it got; unreached hosts are not in the report. */
  interrupted?: string;
}

export interface ScanReport {
  scan: ScanMeta;
  services: ServiceResult[];
}
