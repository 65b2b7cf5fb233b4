/**
 * The record `wardgate conformance acme-client` keeps of one run: every HTTP exchange between the
 * client under test and the kit's test CA, every validation the CA performed, every fault the kit
 * injected, and every certificate issued. Checks judge requirements from this record alone (see
 * checks.ts), so the ACME server only has to feed an ExchangeRecorder; it never judges anything.
 *
 * Contract for the ACME server (src/acme/): call the recorder for each request after JWS parsing
 * (or after its failure), with the problem type it answered; consult the FaultPlan before handling a
 * request and report the fault it applied. Timestamps are milliseconds since the run started.
 */
export type AcmeResource =
  | 'directory' | 'newNonce' | 'newAccount' | 'account' | 'keyChange' | 'newOrder' | 'order' | 'orders'
  | 'authorization' | 'challenge' | 'finalize' | 'certificate' | 'revokeCert' | 'renewalInfo' | 'cacerts' | 'unknown';

export interface RecordedJws {
  /** Protected header (RFC 8555 §6.2). */
  alg: string;
  kid?: string;
  /** JWK thumbprint (RFC 7638) when the header carried `jwk`. */
  jwkThumbprint?: string;
  /** Key type and size of the signing key, e.g. "EC P-256", "RSA 2048". */
  keyDescription?: string;
  nonce?: string;
  url?: string;
  /** Parsed payload; the empty string marks POST-as-GET (§6.3). */
  payload: unknown;
  /** Inner EAB JWS header of newAccount (§7.3.4), when present. */
  eab?: { alg: string; kid: string; url?: string };
}

export interface RecordedRequest {
  at: number;
  method: 'GET' | 'HEAD' | 'POST';
  url: string;
  resource: AcmeResource;
  /** True when the URL was advertised by the directory or returned by the server before this request. */
  discovered: boolean;
  jws?: RecordedJws;
  response: {
    status: number;
    /** Problem document type, e.g. urn:ietf:params:acme:error:badNonce. */
    problem?: string;
    /** Retry-After sent, in seconds. */
    retryAfter?: number;
    /** Replay-Nonce sent with the response. */
    nonce?: string;
    location?: string;
  };
  /** The fault the kit injected into this response, if any. */
  fault?: InjectedFault['kind'];
}

export interface RecordedValidation {
  at: number;
  identifier: { type: 'dns' | 'ip'; value: string };
  challenge: 'http-01' | 'tls-alpn-01' | 'dns-01';
  ok: boolean;
  detail: string;
}

export interface RecordedCsr {
  at: number;
  orderIdentifiers: Array<{ type: 'dns' | 'ip'; value: string }>;
  csrIdentifiers: Array<{ type: 'dns' | 'ip'; value: string }>;
  /** SHA-256 of the CSR's SubjectPublicKeyInfo, to compare across renewals and with the account key. */
  spkiSha256: string;
  keyDescription: string;
}

export interface RecordedCertificate {
  at: number;
  serial: string;
  /** RFC 9773 §4.1 certID. */
  certId: string;
  notBefore: string;
  notAfter: string;
  spkiSha256: string;
  /** certID named by the order's `replaces`, if any (RFC 9773 §5). */
  replaces?: string;
}

export type InjectedFault =
  | { kind: 'badNonce'; at: number; resource: AcmeResource }
  | { kind: 'orderNotReady'; at: number }
  | { kind: 'retryAfter'; at: number; resource: AcmeResource; seconds: number }
  | { kind: 'ariWindow'; at: number; certId: string; start: string; end: string }
  | { kind: 'untrustedServerCertificate'; at: number };

/** Faults the kit asks the test CA to inject, one of each per run unless stated. */
export interface FaultPlan {
  badNonceOn?: AcmeResource[];
  orderNotReadyOnce?: boolean;
  retryAfterSeconds?: number;
  /** ARI window to serve for the first certificate, relative to its issuance (seconds). */
  ariWindow?: { startAfter: number; endAfter: number };
}

export interface ExchangeRecord {
  directoryUrl: string;
  /** Options the client claims (http-01, tls-alpn-01, dns-01, EAB, ARI, IP identifiers). */
  claims: string[];
  requests: RecordedRequest[];
  validations: RecordedValidation[];
  csrs: RecordedCsr[];
  certificates: RecordedCertificate[];
  faults: InjectedFault[];
  /** SHA-256 of the account key SPKI. */
  accountKeySha256?: string;
  /** Exit status and output tail of the client command. */
  command: { argv: string[]; exitCode: number | null; outputTail: string };
}

/** What the ACME server calls while the kit runs; implemented by the kit, passed to the server. */
export interface ExchangeRecorder {
  request(r: RecordedRequest): void;
  validation(v: RecordedValidation): void;
  csr(c: RecordedCsr): void;
  certificate(c: RecordedCertificate): void;
  fault(f: InjectedFault): void;
}
