/**
 * The record `wardgate conformance acme-client` keeps of one run: every HTTP exchange between the
 * client under test and the kit's test CA (ACME over HTTPS and the plain-HTTP distribution listener),
 * every TLS handshake the client abandoned, every fault the kit injected, and, read back from the CA's
 * store after the run, every order with its validations, CSR and certificate. Checks judge requirements
 * from this record alone (checks.ts), so every verdict can be re-derived from a saved record.
 * Times are milliseconds since the run started.
 */
import type { FaultPlan } from './fault-plan.ts';

export type AcmeResource =
  | 'directory' | 'newNonce' | 'newAccount' | 'account' | 'keyChange' | 'newOrder' | 'order' | 'orders'
  | 'authorization' | 'challenge' | 'finalize' | 'certificate' | 'revokeCert' | 'renewalInfo'
  | 'cacerts' | 'crl' | 'ocsp' | 'unknown';

/**
 * The kit runs the client command once per phase (the renew phase possibly several times, as a
 * scheduler would): enroll; renew; order-not-ready (a renewal whose first finalize is refused); and
 * untrusted-server (the test CA presents a certificate from a foreign CA).
 */
export type Phase = 'enroll' | 'renew' | 'order-not-ready' | 'untrusted-server';
export const PHASES: readonly Phase[] = ['enroll', 'renew', 'order-not-ready', 'untrusted-server'];

export interface RecordedJws {
  /** Protected header fields (RFC 8555 §6.2). */
  alg: string;
  kid?: string;
  /** RFC 7638 thumbprint of the `jwk` header, when present. */
  jwkThumbprint?: string;
  /** SHA-256 of the `jwk` header's SubjectPublicKeyInfo DER (hex). */
  jwkSpkiSha256?: string;
  /** Key type and size of the `jwk`, e.g. "EC P-256", "RSA 2048", "Ed25519". */
  keyDescription?: string;
  nonce?: string;
  url?: string;
  /** Parsed payload; "" marks POST-as-GET (§6.3); undefined when the payload was not JSON or not kept. */
  payload: unknown;
  /** Why a non-empty payload was not kept (larger or deeper than jws-record.ts keeps). */
  payloadOmitted?: string;
  /** Inner EAB JWS header of newAccount (§7.3.4), when present. */
  eab?: { alg: string; kid?: string; url?: string };
}

export interface RecordedRequest {
  seq: number;
  phase: Phase;
  /** Which run of the client command sent it (1-based; 0 = between runs). */
  invocation: number;
  /** When the request arrived and when the response was sent. */
  at: number;
  respondedAt: number;
  listener: 'acme' | 'distribution';
  method: string;
  /** Absolute URL as the client addressed it. */
  url: string;
  resource: AcmeResource;
  /** The order (`order:ID`, for order and finalize) or authorization (`authz:ID`, for authz and its challenges) addressed. */
  group?: string;
  /** True when the URL was the directory or appeared in an earlier response (body, Location, Link). */
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
    /** `status` field of a JSON resource body (order, authorization, challenge), as sent. */
    resourceStatus?: string;
  };
  /** The fault the kit injected into this response, if any. */
  fault?: InjectedFault['kind'];
}

export interface RecordedChallenge {
  type: string;
  status: string;
  /** When the CA validated it (ms since run start). */
  validatedAt?: number;
  error?: string;
}

export interface RecordedCsr {
  /** The finalize request that carried it. */
  seq: number;
  at: number;
  /** Set when the CSR could not be parsed. */
  error?: string;
  /** Set when the CSR was refused for its key (RSA-1024, secp256k1, explicit curve parameters): a csr-key violation, not a gap in the evidence. */
  keyRejected?: true;
  identifiers: Array<{ type: string; value: string }>;
  /** SHA-256 (hex) of the CSR's SubjectPublicKeyInfo DER. */
  spkiSha256: string;
  keyType: string;
}

/** One order as the CA's store knows it after the run, joined with the requests that made it. */
export interface RecordedOrder {
  id: string;
  url: string;
  phase: Phase;
  /** When newOrder was answered. */
  at: number;
  /** Identifiers exactly as the client sent them in newOrder (before normalization). */
  requestedIdentifiers: Array<{ type: string; value: string }>;
  identifiers: Array<{ type: string; value: string }>;
  status: string;
  replaces?: string;
  authorizations: Array<{ identifier: { type: string; value: string }; status: string; challenges: RecordedChallenge[] }>;
  /** CSRs of every finalize request for this order, accepted or not. */
  csrs: RecordedCsr[];
  certificateSerial?: string;
}

export interface RecordedCertificate {
  serial: string;
  /** RFC 9773 §4.1 certID. */
  certId: string;
  orderId: string;
  phase: Phase;
  issuedAt: number;
  notBefore: string;
  notAfter: string;
  names: string[];
  spkiSha256: string;
}

/** An ARI window the kit served for a certificate, and from when it was in effect. */
export interface ServedWindow {
  certId: string;
  from: number;
  start: string;
  end: string;
}

export interface RecordedTlsFailure {
  at: number;
  phase: Phase;
  /** The server-side OpenSSL/Node error, e.g. "...:tlsv1 alert unknown ca:...SSL alert number 48". */
  detail: string;
  /**
   * Bytes the kit had written on the TCP connection when the handshake failed: more than zero on a
   * hang-up means the client closed after receiving the server's flight (with its certificate).
   */
  serverBytes?: number;
}

export interface RecordedCommand {
  phase: Phase;
  invocation: number;
  argv: string[];
  startedAt: number;
  ms: number;
  exitCode: number | null;
  signal?: string;
  /** True when the kit killed the run at --timeout (the client hung); `signal` is then the kit's SIGKILL. */
  timedOut?: boolean;
  outputTail: string;
}

export type InjectedFault =
  | { kind: 'badNonce'; at: number; phase: Phase; resource: AcmeResource; nonce: string }
  | { kind: 'orderNotReady'; at: number; phase: Phase; orderUrl: string }
  | { kind: 'retryAfter'; at: number; phase: Phase; resource: AcmeResource; url: string; seconds: number }
  | { kind: 'ariWindow'; at: number; phase: Phase; certId: string; start: string; end: string }
  | { kind: 'untrustedServerCertificate'; at: number; phase: Phase };

export interface ExchangeRecord {
  directoryUrl: string;
  /** Wall-clock start of the run (ISO 8601); every other time is relative to it. */
  startedAt: string;
  /** Options the client claims (http-01, tls-alpn-01, dns-01, EAB, ARI, IP identifiers). */
  claims: string[];
  plan: FaultPlan;
  /** The EAB key id handed to the client when it claims EAB. */
  eabKid?: string;
  /** Phases that ran, in order. */
  phases: Phase[];
  requests: RecordedRequest[];
  tlsFailures: RecordedTlsFailure[];
  faults: InjectedFault[];
  orders: RecordedOrder[];
  certificates: RecordedCertificate[];
  windows: ServedWindow[];
  commands: RecordedCommand[];
  /** Milliseconds since the run started when the record was closed. */
  endedAt: number;
  /** Why a phase did not run or ended early, e.g. no certificate to renew. */
  notes: string[];
}
