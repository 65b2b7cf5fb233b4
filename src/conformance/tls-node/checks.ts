import { isIP } from 'node:net';
import { x509 } from '../../pki/x509.ts';
import { RECOMMENDED_TLS12, type CipherSuite } from '../tls/cipher-suites.ts';
import { fail, inconclusive, pass, type Verdict } from '../verdict.ts';
import type { HandshakeOutcome } from '../tls/handshake-probe.ts';
import { authAttempts, type AuthVersion, type ClientAuthProbe, type ProbeStage, type TlsNodeEvidence } from './evidence.ts';

/** Options a TLS endpoint can claim (ITI TF-1: X.2). */
export const TLS_NODE_OPTIONS = ['rsa-baseline'] as const;
export type TlsNodeOption = (typeof TLS_NODE_OPTIONS)[number];

export interface TlsNodeContext {
  options: ReadonlySet<TlsNodeOption>;
}

export interface TlsNodeCheck {
  description: string;
  /** The option without whose claim the verdict is not-applicable. */
  option?: TlsNodeOption;
  /**
   * The probe stages whose evidence the verdict rests on: when the endpoint stopped answering before
   * one of them finished, the check is inconclusive instead of judged on placeholders (run.ts).
   */
  needs: readonly ProbeStage[] | ((e: TlsNodeEvidence) => readonly ProbeStage[]);
  judge: (e: TlsNodeEvidence, ctx: TlsNodeContext) => Verdict;
  /**
   * For a run cut short before `needs` finished: the violation the evidence gathered so far already
   * proves, as the failure's evidence, or undefined. It may cite observations only, never the
   * `not-run` placeholders; there is no partial pass (run.ts).
   */
  provenFailure?: (e: TlsNodeEvidence) => string | undefined;
}

const LEGACY = ['SSLv3', 'TLSv1', 'TLSv1.1'] as const;

function allSuites(e: TlsNodeEvidence): Array<{ version: string; suite: CipherSuite }> {
  return Object.entries(e.suites).flatMap(([version, list]) => (list ?? []).map((suite) => ({ version, suite })));
}

/** Why the suite enumeration of some versions stopped early, if it did. */
function suiteProblemText(e: TlsNodeEvidence): string | undefined {
  const cut = Object.entries(e.suiteProblems).map(([version, problem]) => `${version} ${problem}`);
  return cut.length ? cut.join('; ') : undefined;
}

function listSuites(items: Array<{ version: string; suite: CipherSuite }>): string {
  return items.map((i) => `${i.suite.name} (${i.version})`).join(', ');
}

/** A legacy version accepted, or answered with bytes that are not TLS: ICM-TLS-001 fails on either. */
function legacyViolation(e: TlsNodeEvidence): string | undefined {
  const accepted = LEGACY.filter((v) => e.versions[v].accepted);
  const text = LEGACY.map((v) => `${v}: ${e.versions[v].detail}`).join('; ');
  if (accepted.length) return `accepted ${accepted.join(', ')} — ${text}`;
  const bare = e.legacyWithoutSni ?? {};
  const acceptedBare = LEGACY.filter((v) => bare[v]?.accepted);
  if (acceptedBare.length) return `accepted ${acceptedBare.join(', ')} from a client sending no SNI — ${LEGACY.map((v) => `${v} without SNI: ${bare[v]?.detail ?? 'not probed'}`).join('; ')}; with SNI: ${text}`;
  // RFC 8446 §4.1.3, RFC 5246 §7.2: a server refuses a version with a protocol_version alert or answers
  // with a version it supports; bytes that are not TLS are neither.
  const notTls = LEGACY.filter((v) => e.versions[v].answer === 'not-tls');
  if (notTls.length) return `answered ${notTls.join(', ')} with bytes that are not TLS, which is no refusal — ${text}`;
  return undefined;
}

/** A forbidden suite chosen in any version, or an enumeration cut by an answer that is not TLS. */
function forbiddenSuiteViolation(e: TlsNodeEvidence): string | undefined {
  const all = allSuites(e);
  const bad = all.filter((i) => i.suite.cls === 'forbidden');
  if (bad.length) return `accepts forbidden suites: ${listSuites(bad)}`;
  const cut = suiteProblemText(e);
  return cut ? `${cut}; accepted so far: ${listSuites(all) || 'none'}` : undefined;
}

/** A discouraged suite chosen in TLS 1.2, or its enumeration cut by an answer that is not TLS. */
function discouragedSuiteViolation(e: TlsNodeEvidence): string | undefined {
  const list = (e.suites['TLSv1.2'] ?? []).map((suite) => ({ version: 'TLSv1.2', suite }));
  const bad = list.filter((i) => i.suite.cls === 'discouraged');
  if (bad.length) return `TLS 1.2 accepts discouraged suites: ${listSuites(bad)}`;
  return e.suiteProblems['TLSv1.2'] ? `TLSv1.2 ${e.suiteProblems['TLSv1.2']}; accepted so far: ${listSuites(list) || 'none'}` : undefined;
}

/** A Certificate message that could not be read (PEM text, junk) fails every certificate check. */
function noServerCert(e: TlsNodeEvidence): Verdict | undefined {
  if (e.serverChainProblem) return fail(e.serverChainProblem);
  return e.serverChain.length === 0 ? inconclusive('no server certificate was obtained (no TLS 1.2 or 1.3 handshake reached the Certificate message)') : undefined;
}

/**
 * True when the endpoint showed it speaks TLS in this run: some raw ClientHello got a ServerHello or an
 * alert, or a TLS 1.3 handshake completed. Only then is a closed connection or silence after a legacy
 * ClientHello a refusal of that version, rather than an endpoint that answers nothing at all.
 */
function speaksTls(e: TlsNodeEvidence): boolean {
  return rawAnswered(e) || e.tls13.accepted;
}

function rawAnswered(e: TlsNodeEvidence): boolean {
  return Object.values(e.versions).some((v) => v.answer === 'server-hello' || v.answer === 'alert');
}

/** The TLS 1.2 answer was not parseable TLS: checks that need the TLS 1.2 ServerHello fail with it. */
function tls12NotTls(e: TlsNodeEvidence): Verdict | undefined {
  return !e.tls12Hello && e.versions['TLSv1.2'].answer === 'not-tls' ? fail(`TLSv1.2: ${e.versions['TLSv1.2'].detail}`) : undefined;
}

function leafDetails(e: TlsNodeEvidence): x509.X509Certificate {
  return new x509.X509Certificate(new Uint8Array(e.serverChain[0].raw));
}

function attemptText(o: HandshakeOutcome): string {
  return o.accepted ? `${o.protocol}, ${o.cipher}; connection kept open` : o.error ?? 'no reason given';
}

/**
 * A client-certificate case as evidence. Probed in one version it reads as before ("…: refused
 * (alert …)"); probed in two, it names each: "no client certificate: refused in TLS 1.2 (…), accepted
 * in TLS 1.3 (…)", so a product that enforces its policy in one version only is told which.
 */
function outcomeText(p: ClientAuthProbe): string {
  const tries = authAttempts(p);
  if (tries.length === 1) return `${p.description}: ${tries[0].outcome.accepted ? 'accepted' : 'refused'} (${attemptText(tries[0].outcome)})`;
  return `${p.description}: ${tries.map((a) => `${a.outcome.accepted ? 'accepted' : 'refused'} in ${a.version} (${attemptText(a.outcome)})`).join(', ')}`;
}

/** The versions in which the case was accepted, e.g. "TLS 1.3"; empty when refused in every version. */
function acceptedIn(p: ClientAuthProbe | undefined): AuthVersion[] {
  return p ? authAttempts(p).filter((a) => a.outcome.accepted).map((a) => a.version) : [];
}

function refusedIn(p: ClientAuthProbe): AuthVersion[] {
  return authAttempts(p).filter((a) => !a.outcome.accepted).map((a) => a.version);
}

/** `outcomeText`, led by the versions that let the case in when it was refused in others. */
function acceptedText(p: ClientAuthProbe): string {
  const inVersions = acceptedIn(p);
  const refused = refusedIn(p);
  return refused.length && inVersions.length ? `accepted in ${inVersions.join(' and ')} though refused in ${refused.join(' and ')} — ${outcomeText(p)}` : outcomeText(p);
}

/**
 * A refusal is only evidence when the endpoint accepts a good certificate in the same version: an
 * endpoint that drops every connection would otherwise pass every refusal check. The case must be
 * refused in every version probed.
 */
function mustRefuse(e: TlsNodeEvidence, probe: ClientAuthProbe | undefined, missing: string | undefined): Verdict {
  if (!probe) return inconclusive(missing ?? 'probe not run');
  if (acceptedIn(probe).length) return fail(acceptedText(probe));
  const valid = e.clientAuth.valid;
  if (!valid) return inconclusive(`${outcomeText(probe)}; but without a valid client certificate (${e.missing.valid}) the kit cannot tell a refusal for this reason from a refusal of every connection`);
  const unproven = refusedIn(probe).filter((v) => !acceptedIn(valid).includes(v));
  if (unproven.length) return inconclusive(`${outcomeText(probe)}; but the valid client certificate was refused too in ${unproven.join(' and ')} (${outcomeText(valid)}), so the refusal there proves nothing`);
  return pass(`${outcomeText(probe)}; ${outcomeText(valid)}`);
}

/** The server's certificates come from the plaintext flight (versions) or, failing that, the TLS 1.3 handshake. */
const SERVER_CHAIN = (e: TlsNodeEvidence): ProbeStage[] => (e.serverChain.length > 0 || e.serverChainProblem ? ['versions'] : ['versions', 'tls13']);

/** Judging rules of `wardgate conformance tls-node`, keyed by check name (requirements.json `check`). */
export const TLS_NODE_CHECKS: Record<string, TlsNodeCheck> = {
  'tls-node:legacy-versions-refused': {
    description: 'raw ClientHellos capped at SSL 3.0, TLS 1.0 and TLS 1.1 (all suites, incl. SECLEVEL-0 ones) must not get a ServerHello of that version, nor an answer that is not TLS; a close or silence is a refusal only from an endpoint that answered some ClientHello as TLS; when the kit sends SNI, the legacy hellos are repeated without it',
    needs: (e) => (rawAnswered(e) ? ['versions'] : ['versions', 'tls13']),
    provenFailure: legacyViolation,
    judge: (e) => {
      const violation = legacyViolation(e);
      if (violation) return fail(violation);
      const text = LEGACY.map((v) => `${v}: ${e.versions[v].detail}`).join('; ');
      const silent = LEGACY.filter((v) => e.versions[v].answer === 'closed' || e.versions[v].answer === 'timeout');
      if (silent.length && !speaksTls(e)) {
        return inconclusive(`the endpoint never answered as a TLS server (no ServerHello or alert to any ClientHello, no TLS 1.3 handshake), so closing or staying silent after ${silent.join(', ')} shows no refusal — ${text}`);
      }
      const bare = e.legacyWithoutSni;
      return pass(bare ? `${text}; without SNI: ${LEGACY.map((v) => `${v}: ${bare[v]?.detail ?? 'not probed'}`).join('; ')}` : text);
    },
  },
  'tls-node:tls12-supported': {
    description: 'a raw TLS 1.2 ClientHello with every suite gets a TLS 1.2 ServerHello',
    needs: ['versions'],
    judge: (e) => (e.versions['TLSv1.2'].accepted ? pass : fail)(`TLSv1.2: ${e.versions['TLSv1.2'].detail}`),
  },
  'tls-node:tls13-supported': {
    description: 'a TLS 1.3-only handshake completes, and TLS 1.3 is chosen when 1.2 and 1.3 are offered',
    needs: ['tls13'],
    judge: (e) => (e.tls13.accepted && e.tls13.preferred !== false ? pass : fail)(e.tls13.detail),
  },
  'tls-node:forbidden-ciphers-refused': {
    description: 'no NULL, anonymous, export, RC4, DES or 3DES suite is chosen in any accepted version',
    needs: ['versions', 'suites'],
    provenFailure: forbiddenSuiteViolation,
    judge: (e) => {
      const violation = forbiddenSuiteViolation(e);
      if (violation) return fail(violation);
      const all = allSuites(e);
      if (all.length === 0) return inconclusive('no cipher suite was negotiated in any TLS version up to 1.2');
      return pass(`accepted suites: ${listSuites(all)}`);
    },
  },
  'tls-node:recommended-cipher': {
    description: 'at least one RFC 9325 §4.2 suite is chosen in TLS 1.2',
    needs: ['versions', 'suites'],
    judge: (e) => {
      if (!e.versions['TLSv1.2'].accepted) return fail('TLS 1.2 is not supported, so no RFC 9325 §4.2 suite can be negotiated');
      const list = e.suites['TLSv1.2'] ?? [];
      const good = list.filter((s) => (RECOMMENDED_TLS12 as readonly number[]).includes(s.code));
      const cut = e.suiteProblems['TLSv1.2'] ? `; ${e.suiteProblems['TLSv1.2']}` : '';
      return good.length ? pass(`TLS 1.2 accepts ${good.map((s) => s.name).join(', ')}`) : fail(`TLS 1.2 accepts only ${list.map((s) => s.name).join(', ') || 'nothing the kit offered'}${cut}`);
    },
  },
  'tls-node:discouraged-ciphers-refused': {
    description: 'no RSA key transport, finite-field DHE or CBC suite is chosen in TLS 1.2',
    needs: ['versions', 'suites'],
    provenFailure: discouragedSuiteViolation,
    judge: (e) => {
      if (!e.versions['TLSv1.2'].accepted) return inconclusive('TLS 1.2 is not supported; nothing to judge');
      const violation = discouragedSuiteViolation(e);
      if (violation) return fail(violation);
      return pass(`TLS 1.2 accepts only ${listSuites((e.suites['TLSv1.2'] ?? []).map((suite) => ({ version: 'TLSv1.2', suite })))}`);
    },
  },
  'tls-node:chain-to-ca': {
    description: 'the certificates the server sends build a valid path to a --ca trust anchor (signatures, CA flags, validity)',
    needs: SERVER_CHAIN,
    judge: (e) => {
      if (e.serverChainProblem) return fail(e.serverChainProblem);
      if (!e.chain) return inconclusive(e.missing.ca ?? 'no trust anchor');
      const text = `path (${e.serverChainSource}): ${e.chain.path.join(' <- ')}`;
      return e.chain.ok ? pass(text) : fail(`${e.chain.problem}; ${text}`);
    },
  },
  'tls-node:server-name-match': {
    description: 'the end-entity certificate subjectAltName covers the address or --name the peer connects to',
    needs: SERVER_CHAIN,
    judge: (e) => {
      const none = noServerCert(e);
      if (none) return none;
      const name = e.endpoint.serverName ?? e.endpoint.host;
      const leaf = e.serverChain[0];
      const ok = isIP(name) ? leaf.checkIP(name) !== undefined : leaf.checkHost(name, { subject: 'never' }) !== undefined;
      return (ok ? pass : fail)(`${name} ${ok ? 'is' : 'is not'} in subjectAltName "${leaf.subjectAltName ?? '(none)'}"`);
    },
  },
  'tls-node:server-key-strength': {
    description: 'end-entity key RSA ≥ 2048 or ECDSA P-256/P-384, signature not SHA-1/MD5',
    needs: SERVER_CHAIN,
    judge: (e) => {
      const none = noServerCert(e);
      if (none) return none;
      const key = e.serverChain[0].publicKey;
      const d = key.asymmetricKeyDetails ?? {};
      const keyOk = key.asymmetricKeyType === 'rsa' ? (d.modulusLength ?? 0) >= 2048
        : key.asymmetricKeyType === 'ec' ? ['prime256v1', 'secp384r1'].includes(d.namedCurve ?? '') : false;
      const sig = leafDetails(e).signatureAlgorithm as { name: string; hash?: { name: string } };
      const hash = sig.hash?.name ?? 'unknown';
      const sigOk = !/SHA-1|MD5/i.test(hash);
      const keyText = key.asymmetricKeyType === 'rsa' ? `RSA-${d.modulusLength}` : `${key.asymmetricKeyType} ${d.namedCurve ?? ''}`.trim();
      return (keyOk && sigOk ? pass : fail)(`key ${keyText}, signature ${sig.name} with ${hash}`);
    },
  },
  'tls-node:server-cert-validity': {
    description: 'the end-entity certificate is within notBefore..notAfter at the time of the run',
    needs: SERVER_CHAIN,
    judge: (e) => {
      const none = noServerCert(e);
      if (none) return none;
      const leaf = e.serverChain[0];
      const from = new Date(leaf.validFrom);
      const to = new Date(leaf.validTo);
      const ok = from <= e.at && e.at <= to;
      return (ok ? pass : fail)(`valid ${from.toISOString()} to ${to.toISOString()}, checked at ${e.at.toISOString()}`);
    },
  },
  'tls-node:revocation-pointers': {
    description: 'the end-entity certificate has a CRL Distribution Point or an AIA OCSP URL',
    needs: SERVER_CHAIN,
    judge: (e) => {
      const none = noServerCert(e);
      if (none) return none;
      const leaf = leafDetails(e);
      const cdp = leaf.getExtension(x509.CRLDistributionPointsExtension);
      const aia = leaf.getExtension(x509.AuthorityInfoAccessExtension);
      const crlUrls = cdp?.distributionPoints.flatMap((p) => p.distributionPoint?.fullName?.map((n) => n.uniformResourceIdentifier).filter(Boolean) ?? []) ?? [];
      const ocspUrls = aia?.ocsp.map((n) => n.value) ?? [];
      const text = `CRL DP: ${crlUrls.join(', ') || 'none'}; OCSP: ${ocspUrls.join(', ') || 'none'}`;
      return (crlUrls.length || ocspUrls.length ? pass : fail)(text);
    },
  },
  'tls-node:requests-client-cert': {
    description: 'the plaintext server flight (highest version up to TLS 1.2) contains a CertificateRequest (TLS 1.3-only endpoints: inferred from refusing a client without a certificate)',
    needs: (e) => (e.certificateRequested !== undefined ? ['versions'] : ['versions', 'client-auth:no-cert', 'client-auth:valid']),
    judge: (e) => {
      if (e.certificateRequested !== undefined) {
        if (!e.certificateRequested && e.plaintextProblem) return fail(`${e.plaintextProblem}, before a CertificateRequest or ServerHelloDone`);
        return (e.certificateRequested ? pass : fail)(`the ${e.plaintextVersion} server flight ${e.certificateRequested ? 'contains' : 'has no'} CertificateRequest`);
      }
      if (!acceptedIn(e.clientAuth.noCert).length && e.clientAuth.valid && !refusedIn(e.clientAuth.valid).length) return pass(`TLS 1.3 only: ${outcomeText(e.clientAuth.noCert)}, which implies a certificate request`);
      return inconclusive('TLS 1.3 only: the CertificateRequest is encrypted and the endpoint did not refuse a client without a certificate');
    },
  },
  'tls-node:refuses-no-client-cert': {
    description: 'a handshake without a client certificate is refused, with SNI and (when the kit sends SNI) without it, in TLS 1.2 and in TLS 1.3 when the endpoint speaks both, while a valid client certificate is accepted',
    needs: ['client-auth:no-cert', 'client-auth:valid'],
    provenFailure: (e) => {
      const bare = e.clientAuth.noCertNoSni;
      if (bare && acceptedIn(bare).length) return acceptedText(bare);
      return acceptedIn(e.clientAuth.noCert).length ? acceptedText(e.clientAuth.noCert) : undefined;
    },
    judge: (e) => {
      const bare = e.clientAuth.noCertNoSni;
      if (bare && acceptedIn(bare).length) return fail(`${acceptedText(bare)}; ${outcomeText(e.clientAuth.noCert)}`);
      const v = mustRefuse(e, e.clientAuth.noCert, undefined);
      return bare && v.status !== 'fail' ? { ...v, evidence: `${v.evidence}; ${outcomeText(bare)}` } : v;
    },
  },
  'tls-node:accepts-valid-client-cert': {
    description: 'a handshake with the given (or minted) valid client certificate completes and stays open, in TLS 1.2 and in TLS 1.3 when the endpoint speaks both',
    needs: ['client-auth:valid'],
    judge: (e) => {
      const p = e.clientAuth.valid;
      if (!p) return inconclusive(e.missing.valid ?? 'probe not run');
      const refused = refusedIn(p);
      if (refused.length && acceptedIn(p).length) return fail(`refused in ${refused.join(' and ')} though accepted in ${acceptedIn(p).join(' and ')} — ${outcomeText(p)}`);
      return (refused.length ? fail : pass)(outcomeText(p));
    },
  },
  'tls-node:refuses-foreign-client-cert': {
    description: 'a client certificate from a throwaway CA, same subject and SAN as the valid one, is refused, in TLS 1.2 and in TLS 1.3 when the endpoint speaks both',
    needs: ['client-auth:foreign', 'client-auth:valid'],
    judge: (e) => mustRefuse(e, e.clientAuth.foreign, undefined),
  },
  'tls-node:refuses-expired-client-cert': {
    description: 'a client certificate from the trusted client CA that expired yesterday is refused, in TLS 1.2 and in TLS 1.3 when the endpoint speaks both',
    needs: ['client-auth:expired', 'client-auth:valid'],
    judge: (e) => mustRefuse(e, e.clientAuth.expired, e.missing.expired),
  },
  'tls-node:refuses-revoked-client-cert': {
    description: 'the revoked client certificate given with --revoked-cert is refused, in TLS 1.2 and in TLS 1.3 when the endpoint speaks both',
    needs: ['client-auth:revoked', 'client-auth:valid'],
    judge: (e) => mustRefuse(e, e.clientAuth.revoked, e.missing.revoked),
  },
  'tls-node:rsa-baseline': {
    description: 'offering only TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 and RSA signature algorithms yields an RSA ≥ 2048 certificate',
    option: 'rsa-baseline',
    needs: ['versions', 'rsa-baseline'],
    judge: (e) => {
      if (!e.rsaBaseline) return fail('TLS 1.2 is not supported, so TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 cannot be negotiated');
      return (e.rsaBaseline.accepted && (e.rsaBaseline.rsaBits ?? 0) >= 2048 ? pass : fail)(e.rsaBaseline.detail);
    },
  },
  'tls-node:secure-renegotiation': {
    description: 'the TLS 1.2 ServerHello answers renegotiation_info (RFC 5746 §3.6)',
    needs: ['versions'],
    judge: (e) => {
      const broken = tls12NotTls(e);
      if (broken) return broken;
      if (!e.tls12Hello) return inconclusive('no TLS 1.2 ServerHello (TLS 1.3 has no renegotiation)');
      const ok = e.tls12Hello.extensions.includes(0xff01);
      return (ok ? pass : fail)(`TLS 1.2 ServerHello ${ok ? 'carries' : 'lacks'} renegotiation_info; extensions: ${e.tls12Hello.extensions.map((x) => `0x${x.toString(16)}`).join(' ') || 'none'}`);
    },
  },
  'tls-node:extended-master-secret': {
    description: 'the TLS 1.2 ServerHello answers extended_master_secret (RFC 7627 §5.2)',
    needs: ['versions'],
    judge: (e) => {
      const broken = tls12NotTls(e);
      if (broken) return broken;
      if (!e.tls12Hello) return inconclusive('no TLS 1.2 ServerHello (TLS 1.3 always binds the session hash)');
      const ok = e.tls12Hello.extensions.includes(0x0017);
      return (ok ? pass : fail)(`TLS 1.2 ServerHello ${ok ? 'carries' : 'lacks'} extended_master_secret`);
    },
  },
};
