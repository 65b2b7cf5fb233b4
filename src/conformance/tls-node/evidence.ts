import type { X509Certificate } from 'node:crypto';
import type { ChainResult } from '../tls/chain.ts';
import type { CipherSuite } from '../tls/cipher-suites.ts';
import type { HandshakeOutcome } from '../tls/handshake-probe.ts';
import type { Endpoint } from '../tls/raw-probe.ts';
import type { ServerHello } from '../tls/server-flight.ts';

/**
 * What the server sent back to a raw ClientHello: a ServerHello or an alert shows a TLS speaker; a
 * close or silence shows nothing by itself; `not-tls` is an answer that is not parseable TLS;
 * `not-run` means the endpoint stopped answering before this probe (TlsNodeEvidence.interrupted).
 */
export type RawAnswer = 'server-hello' | 'alert' | 'closed' | 'timeout' | 'not-tls' | 'not-run';

/** The probe groups of a run, in the order they run; checks name the ones their verdict needs. */
export const PROBE_STAGES = ['versions', 'tls13', 'suites', 'rsa-baseline', 'client-auth:no-cert', 'client-auth:valid', 'client-auth:foreign', 'client-auth:expired', 'client-auth:revoked'] as const;
export type ProbeStage = (typeof PROBE_STAGES)[number];

/** What a version probe saw: the server's answer to a ClientHello capped at that version. */
export interface VersionProbe {
  accepted: boolean;
  answer: RawAnswer;
  detail: string;
}

/** A protocol version family the client-certificate probes ran in, as the report names it. */
export type AuthVersion = 'TLS 1.2' | 'TLS 1.3' | 'TLS 1.0/1.1';

/**
 * One client-certificate case. `outcome` is the probe in `version`: TLS 1.2 when the endpoint accepts
 * it, else TLS 1.3 or the legacy versions. An endpoint that accepts TLS 1.2 (or only legacy versions)
 * and TLS 1.3 is probed again in TLS 1.3 (`tls13`), since every modern client offers it and a product
 * may enforce its policy in one version only; it is absent when the run stopped before that probe.
 * Read both through `authAttempts`.
 */
export interface ClientAuthProbe {
  description: string;
  version: AuthVersion;
  outcome: HandshakeOutcome;
  tls13?: HandshakeOutcome;
}

/** Every version a client-certificate case was probed in, in probe order. */
export function authAttempts(p: ClientAuthProbe): Array<{ version: AuthVersion; outcome: HandshakeOutcome }> {
  return [{ version: p.version, outcome: p.outcome }, ...(p.tls13 ? [{ version: 'TLS 1.3' as const, outcome: p.tls13 }] : [])];
}

/**
 * Everything tls-node observed about an endpoint. Checks judge requirements from this record alone,
 * so the judging rules are pure functions that tests can read next to the evidence that fed them.
 */
export interface TlsNodeEvidence {
  endpoint: Endpoint;
  at: Date;
  /** SSLv3, TLSv1, TLSv1.1, TLSv1.2 via raw ClientHello. */
  versions: Record<'SSLv3' | 'TLSv1' | 'TLSv1.1' | 'TLSv1.2', VersionProbe>;
  /**
   * The legacy versions again without SNI, probed only when the other probes send SNI: a default
   * virtual host may still speak them, and any client can leave the name out.
   */
  legacyWithoutSni?: Partial<Record<'SSLv3' | 'TLSv1' | 'TLSv1.1', VersionProbe>>;
  tls13: { accepted: boolean; detail: string; preferred?: boolean };
  /** Suites the server chose, per accepted version ≤ TLS 1.2, in the order it chose them. */
  suites: Partial<Record<'SSLv3' | 'TLSv1' | 'TLSv1.1' | 'TLSv1.2', CipherSuite[]>>;
  /** Per version, why the suite enumeration stopped early: an answer that is not parseable TLS. */
  suiteProblems: Partial<Record<'SSLv3' | 'TLSv1' | 'TLSv1.1' | 'TLSv1.2', string>>;
  /** The TLS 1.2 ServerHello seen with the full suite offer (extensions tell RFC 5746 / RFC 7627 support). */
  tls12Hello?: ServerHello;
  /**
   * Whether the plaintext flight of the highest accepted version up to TLS 1.2 contained a
   * CertificateRequest (RFC 5246 §7.4.4); undefined for TLS 1.3-only endpoints.
   */
  certificateRequested?: boolean;
  /** Why that plaintext flight could not be read to its end (it is not parseable TLS). */
  plaintextProblem?: string;
  /** The version whose plaintext flight gave certificateRequested (and normally serverChain). */
  plaintextVersion?: string;
  /** Server certificates as sent (plaintext flight of TLS ≤ 1.2) or as reported after a TLS 1.3 handshake. */
  serverChain: X509Certificate[];
  /** Where serverChain came from, e.g. "TLSv1.2 Certificate message", "TLS 1.3 handshake" or "none". */
  serverChainSource: string;
  /** Why the server's certificates could not be taken (e.g. an entry that is PEM text, not DER). */
  serverChainProblem?: string;
  /** Chain validation against --ca; undefined when no trust anchor was given. */
  chain?: ChainResult;
  rsaBaseline?: { accepted: boolean; detail: string; rsaBits?: number };
  clientAuth: {
    noCert: ClientAuthProbe;
    /**
     * No client certificate and no SNI, probed only when the other probes send SNI: a default virtual
     * host may ask nothing of clients that leave the name out, and any client can.
     */
    noCertNoSni?: ClientAuthProbe;
    valid?: ClientAuthProbe;
    foreign?: ClientAuthProbe;
    expired?: ClientAuthProbe;
    revoked?: ClientAuthProbe;
  };
  /** Why a probe could not run (missing input), keyed by probe. */
  missing: Partial<Record<'valid' | 'expired' | 'revoked' | 'ca', string>>;
  /**
   * Set when the endpoint stopped answering mid-run: why (a printable sentence naming the last probe
   * it answered), and the stages that did not run to their end. Their evidence fields hold
   * placeholders (`not-run`), except that `partial` names the stage the stop cut short after some of
   * its probes were answered: its fields keep what those probes showed (the versions probed so far,
   * the suites found so far). Checks that need an unfinished stage fail when that evidence already
   * proves a violation, and are inconclusive otherwise (run.ts); none passes on it.
   */
  interrupted?: { reason: string; notRun: ProbeStage[]; partial?: ProbeStage };
}
