import { createPrivateKey, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { WardgateError } from '../../errors.ts';
import { splitPem } from '../../pki/pem.ts';
import { alertName } from '../tls/alerts.ts';
import { verifyChain } from '../tls/chain.ts';
import { CIPHER_SUITES, suiteByCode, type CipherSuite } from '../tls/cipher-suites.ts';
import { decodeDerCertificate } from '../tls/der-certificate.ts';
import type { HandshakeOptions } from '../tls/handshake-probe.ts';
import type { Endpoint } from '../tls/raw-probe.ts';
import { TLS_VERSIONS, versionName } from '../tls/versions.ts';
import { PROBE_STAGES, type AuthVersion, type ClientAuthProbe, type ProbeStage, type TlsNodeEvidence, type VersionProbe } from './evidence.ts';
import { EndpointStopped, ProbeRun, type AnsweredRaw } from './probe-run.ts';
import { importSigningKey, mintExpired, mintForeign, mintValid, namingOf, parseCertificate, type ClientCredential } from './test-certificates.ts';

export interface TlsNodeInputs {
  endpoint: Endpoint;
  /** Trust anchors (PEM, one or more certificates) the endpoint's chain must validate to. */
  caPem?: string;
  /** A client certificate chain and key that the endpoint should accept. */
  clientCertPem?: string;
  clientKeyPem?: string;
  /** A CA the endpoint trusts for client certificates, whose key lets the kit mint an expired one. */
  clientCaCertPem?: string;
  clientCaKeyPem?: string;
  /** A client certificate (and key) that its CA has revoked, to judge ICM-CHK-001. */
  revokedCertPem?: string;
  revokedKeyPem?: string;
  timeoutMs: number;
  settleMs: number;
  progress?: (step: string) => void;
}

type LegacyOrTls12 = 'SSLv3' | 'TLSv1' | 'TLSv1.1' | 'TLSv1.2';
const RAW_VERSIONS: LegacyOrTls12[] = ['SSLv3', 'TLSv1', 'TLSv1.1', 'TLSv1.2'];
const ALL_SUITES = CIPHER_SUITES.map((s) => s.code);
/** RSA-PSS and PKCS#1 signature algorithms only, for the RSA baseline probe. */
const RSA_SIGALGS = [0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601];

function describeRaw(offered: number, r: AnsweredRaw): VersionProbe {
  const hello = r.flight.hello;
  if (hello) {
    const suite = suiteByCode(hello.cipherSuite).name;
    const rest = r.kind === 'not-tls' ? `; what followed is not TLS (${r.error})` : '';
    if (hello.version === offered) return { accepted: true, answer: 'server-hello', detail: `ServerHello ${versionName(hello.version)} with ${suite}${rest}` };
    return { accepted: false, answer: 'server-hello', detail: `ServerHello answered with ${versionName(hello.version)} to a ${versionName(offered)} offer${rest}` };
  }
  if (r.kind === 'not-tls') return { accepted: false, answer: 'not-tls', detail: `answer is not TLS (${r.error})` };
  if (r.flight.alert) return { accepted: false, answer: 'alert', detail: `refused with alert ${alertName(r.flight.alert.description)}` };
  if (r.kind === 'timeout') return { accepted: false, answer: 'timeout', detail: 'no answer to the ClientHello before the timeout' };
  return { accepted: false, answer: 'closed', detail: r.kind === 'closed' && r.reset ? `connection reset (${r.reset}) without a ServerHello` : 'connection closed without a ServerHello' };
}

/**
 * The certificates of a plaintext Certificate message. An entry that is not one DER certificate (PEM
 * text, junk) makes the whole message unusable: `problem` says which entry and why, for the checks.
 */
function sentCertificates(ders: Buffer[], where: string): { certs: X509Certificate[]; problem?: string } {
  const certs: X509Certificate[] = [];
  for (const [i, der] of ders.entries()) {
    const decoded = decodeDerCertificate(der);
    if ('problem' in decoded) return { certs: [], problem: `certificate ${i + 1} of the ${where} Certificate message (${der.length} bytes) ${decoded.problem}; RFC 5246 §7.4.2 requires DER X.509` };
    certs.push(decoded.cert);
  }
  return { certs };
}

/**
 * sslscan's method: offer every suite, remove the one the server picks, repeat until it refuses.
 * Each suite goes into `chosen` as soon as it is seen, so an endpoint that stops answering mid-way
 * (EndpointStopped) leaves the suites it did choose as evidence. `problem` is set when the enumeration
 * stopped at an answer that is not TLS, so the list may be short.
 */
async function enumerateSuites(run: ProbeRun, name: LegacyOrTls12, chosen: CipherSuite[]): Promise<{ problem?: string }> {
  const version = TLS_VERSIONS[name];
  const remaining = [...ALL_SUITES];
  while (remaining.length > 0) {
    const r = await run.raw(`${name} suite enumeration, offer ${chosen.length + 1}`, { version, suites: remaining });
    const hello = r.flight.hello;
    if (!hello || hello.version !== version) {
      if (r.kind === 'not-tls') return { problem: `enumeration stopped after ${chosen.length} suite(s): answer is not TLS (${r.error})` };
      break;
    }
    const at = remaining.indexOf(hello.cipherSuite);
    chosen.push(suiteByCode(hello.cipherSuite));
    if (at < 0) break; // the server chose a suite that was not offered: stop rather than loop
    remaining.splice(at, 1);
  }
  return {};
}

function keyKind(keyPem: string | undefined): 'ec' | 'rsa' {
  if (!keyPem) return 'ec';
  try {
    return createPrivateKey(keyPem).asymmetricKeyType === 'rsa' ? 'rsa' : 'ec';
  } catch {
    return 'ec';
  }
}

function parseAnchors(pem: string): X509Certificate[] {
  const blocks = splitPem(pem).filter((b) => b.includes('CERTIFICATE'));
  if (blocks.length === 0) throw new WardgateError('CLI_ARGUMENT', '--ca holds no PEM certificate');
  try {
    return blocks.map((b) => new X509Certificate(b));
  } catch (err) {
    throw new WardgateError('CLI_ARGUMENT', `--ca: ${(err as Error).message}`, { cause: err });
  }
}

/** Handshake settings of each version family the client-certificate probes run in. */
const AUTH_TLS: Record<AuthVersion, Pick<HandshakeOptions, 'minVersion' | 'maxVersion' | 'ciphers'>> = {
  'TLS 1.2': { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' },
  'TLS 1.3': { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' },
  'TLS 1.0/1.1': { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT:@SECLEVEL=0' },
};

const NOT_RUN: VersionProbe = { accepted: false, answer: 'not-run', detail: 'not probed: the endpoint had stopped answering' };

export async function collectTlsNodeEvidence(inputs: TlsNodeInputs): Promise<TlsNodeEvidence> {
  const { endpoint, timeoutMs } = inputs;
  const anchors = inputs.caPem ? parseAnchors(inputs.caPem) : undefined;
  const missing: TlsNodeEvidence['missing'] = {};
  if (!anchors) missing.ca = 'no trust anchor given (--ca)';

  // A product that stops answering mid-run keeps the verdicts its finished stages support; the rest
  // are reported as not run (evidence.ts `interrupted`), instead of the run ending without a report.
  // A stage cut short after some of its probes were answered keeps what they showed, as `partial`:
  // a violation they prove (TLS 1.0 accepted before the stop) is still a failure.
  const run = new ProbeRun(endpoint, timeoutMs);
  const done: ProbeStage[] = [];
  let interrupted: TlsNodeEvidence['interrupted'];
  const stage = async (name: ProbeStage, body: () => Promise<void>): Promise<void> => {
    if (interrupted) return;
    const answeredBefore = run.answered;
    try {
      await body();
      done.push(name);
    } catch (err) {
      if (!(err instanceof EndpointStopped)) throw err;
      interrupted = { reason: err.reason, notRun: PROBE_STAGES.filter((s) => !done.includes(s)), ...(run.answered > answeredBefore ? { partial: name } : {}) };
    }
  };
  const progress = (step: string) => { if (!interrupted) inputs.progress?.(step); };

  progress('protocol versions');
  const versions = Object.fromEntries(RAW_VERSIONS.map((v) => [v, NOT_RUN])) as TlsNodeEvidence['versions'];
  const raw: Partial<Record<LegacyOrTls12, AnsweredRaw>> = {};
  const sendsSni = !isIP(endpoint.serverName ?? endpoint.host);
  let legacyWithoutSni: TlsNodeEvidence['legacyWithoutSni'];
  await stage('versions', async () => {
    for (const name of RAW_VERSIONS) {
      raw[name] = await run.raw(`${name} ClientHello`, { version: TLS_VERSIONS[name], suites: ALL_SUITES });
      versions[name] = describeRaw(TLS_VERSIONS[name], raw[name]!);
    }
    if (sendsSni) {
      legacyWithoutSni = {};
      for (const name of ['SSLv3', 'TLSv1', 'TLSv1.1'] as const) {
        const r = await run.raw(`${name} ClientHello without SNI`, { version: TLS_VERSIONS[name], suites: ALL_SUITES, withoutSni: true });
        legacyWithoutSni[name] = describeRaw(TLS_VERSIONS[name], r);
      }
    }
  });

  let tls13Chain: X509Certificate[] = [];
  let tls13: TlsNodeEvidence['tls13'] = { accepted: false, detail: 'not probed: the endpoint had stopped answering' };
  await stage('tls13', async () => {
    const tls13Probe = await run.handshake('TLS 1.3 handshake', { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3', settleMs: 0, timeoutMs });
    tls13Chain = tls13Probe.peerChain;
    tls13 = tls13Probe.protocol === 'TLSv1.3'
      ? { accepted: true, detail: `TLS 1.3 handshake completed with ${tls13Probe.cipher}` }
      : { accepted: false, detail: `TLS 1.3 refused: ${tls13Probe.error ?? 'no TLS 1.3 handshake'}` };
    if (tls13.accepted) {
      const open = await run.handshake('TLS 1.2 and 1.3 handshake', { settleMs: 0, timeoutMs });
      tls13.preferred = open.protocol === 'TLSv1.3';
      tls13.detail += `; offered TLS 1.2 and 1.3, the server chose ${open.protocol ?? 'neither'}`;
    }
  });

  progress('cipher suites');
  const suites: TlsNodeEvidence['suites'] = {};
  const suiteProblems: TlsNodeEvidence['suiteProblems'] = {};
  await stage('suites', async () => {
    for (const name of RAW_VERSIONS) {
      if (!versions[name].accepted) continue;
      const found = await enumerateSuites(run, name, (suites[name] = []));
      if (found.problem) suiteProblems[name] = found.problem;
    }
  });

  const flight12 = versions['TLSv1.2'].accepted ? raw['TLSv1.2']!.flight : undefined;
  // The highest version up to TLS 1.2 the endpoint accepts: its flight is plaintext, so it shows the
  // certificates exactly as sent and whether a client certificate is requested.
  const plainVersion = [...RAW_VERSIONS].reverse().find((v) => versions[v].accepted);
  const plainOutcome = plainVersion ? raw[plainVersion]! : undefined;
  const plainFlight = plainOutcome?.flight;
  const plaintextProblem = plainOutcome?.kind === 'not-tls' ? `the ${plainVersion} server flight is not parseable TLS (${plainOutcome.error})` : undefined;
  let serverChain: X509Certificate[] = [];
  let serverChainSource = 'none';
  let serverChainProblem: string | undefined;
  if (plainFlight && plainFlight.certificates.length > 0) {
    ({ certs: serverChain, problem: serverChainProblem } = sentCertificates(plainFlight.certificates, plainVersion!));
    serverChainSource = `${plainVersion} Certificate message`;
  } else if (plaintextProblem) {
    serverChainProblem = `${plaintextProblem}, before a complete Certificate message`;
    serverChainSource = `${plainVersion} server flight`;
  } else if (tls13Chain.length > 0) {
    serverChain = tls13Chain;
    serverChainSource = 'TLS 1.3 handshake';
  }
  const chain = anchors ? verifyChain(serverChain, anchors) : undefined;

  let rsaBaseline: TlsNodeEvidence['rsaBaseline'];
  await stage('rsa-baseline', async () => {
    if (!versions['TLSv1.2'].accepted) return;
    progress('RSA baseline');
    const r = await run.raw('RSA baseline ClientHello', { version: TLS_VERSIONS['TLSv1.2'], suites: [0xc02f], signatureAlgorithms: RSA_SIGALGS });
    const sent = sentCertificates(r.flight.certificates.slice(0, 1), 'RSA baseline TLSv1.2');
    const leaf = sent.certs[0];
    const rsaBits = leaf?.publicKey.asymmetricKeyType === 'rsa' ? leaf.publicKey.asymmetricKeyDetails?.modulusLength : undefined;
    const accepted = r.flight.hello?.cipherSuite === 0xc02f && rsaBits !== undefined;
    rsaBaseline = {
      accepted,
      rsaBits,
      detail: accepted
        ? `TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 negotiated with an RSA-${rsaBits} certificate`
        : `offering only TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 and RSA signatures: ${describeRaw(TLS_VERSIONS['TLSv1.2'], r).detail}${sent.problem ? `; ${sent.problem}` : ''}${leaf ? ` (certificate key ${leaf.publicKey.asymmetricKeyType})` : ''}`,
    };
  });

  progress('client authentication');
  // Client authentication is judged in every version family a client can get: the best one up to
  // TLS 1.2 (the legacy versions at SECLEVEL=0 for an endpoint without TLS 1.2) and TLS 1.3. A product
  // may enforce its policy in one of them only (a verify hook that runs for TLS 1.2 alone), and every
  // modern client offers TLS 1.3. In TLS 1.3 the server judges the client certificate after the
  // client's Finished (RFC 8446 §4.4.2.4), so its refusal arrives after the handshake completed on the
  // client side: settleMs keeps each accepted handshake open long enough to read it.
  const legacy = RAW_VERSIONS.slice(0, 3).some((v) => versions[v].accepted);
  const authVersions: AuthVersion[] = [
    ...(versions['TLSv1.2'].accepted ? ['TLS 1.2' as const] : legacy || !tls13.accepted ? ['TLS 1.0/1.1' as const] : []),
    ...(tls13.accepted ? ['TLS 1.3' as const] : []),
  ];
  const attempt = async (cred: ClientCredential | undefined, description: string, label: string, set: (p: ClientAuthProbe) => void, withoutSni = false): Promise<void> => {
    let probe: ClientAuthProbe | undefined;
    for (const version of authVersions) {
      const named = authVersions.length > 1 ? `${label}, ${version}` : label;
      const outcome = await run.handshake(`client certificate: ${named}`, { ...AUTH_TLS[version], cert: cred?.certPem, key: cred?.keyPem, settleMs: inputs.settleMs, timeoutMs, withoutSni });
      // Each answered probe is kept as soon as it is in: a stop before the next one leaves it as evidence.
      if (!probe) set((probe = { description, version, outcome }));
      else probe.tls13 = outcome;
    }
  };

  const clientCa = inputs.clientCaCertPem && inputs.clientCaKeyPem
    ? { cert: parseCertificate(inputs.clientCaCertPem, '--client-ca-cert'), key: await importSigningKey(inputs.clientCaKeyPem, '--client-ca-key') }
    : undefined;
  const template = inputs.clientCertPem ? parseCertificate(splitPem(inputs.clientCertPem)[0] ?? inputs.clientCertPem, '--client-cert') : undefined;
  const naming = namingOf(template);
  const kind = keyKind(inputs.clientKeyPem ?? inputs.clientCaKeyPem);

  let valid: ClientCredential | undefined;
  if (inputs.clientCertPem && inputs.clientKeyPem) valid = { certPem: inputs.clientCertPem, keyPem: inputs.clientKeyPem, description: `given with --client-cert (${template?.subject || 'no subject'})` };
  else if (clientCa) valid = await mintValid(clientCa, naming, kind);
  else missing.valid = 'no client certificate given (--client-cert/--client-key) and no client CA to mint one (--client-ca-cert/--client-ca-key)';

  const clientAuth: TlsNodeEvidence['clientAuth'] = { noCert: { description: 'no client certificate', version: authVersions[0], outcome: { accepted: false, error: 'not probed: the endpoint had stopped answering', peerChain: [] } } };
  await stage('client-auth:no-cert', async () => {
    await attempt(undefined, 'no client certificate', 'none', (p) => { clientAuth.noCert = p; });
    if (sendsSni) await attempt(undefined, 'no client certificate, without SNI', 'none, without SNI', (p) => { clientAuth.noCertNoSni = p; }, true);
  });
  await stage('client-auth:valid', async () => {
    if (valid) await attempt(valid, valid.description, 'valid', (p) => { clientAuth.valid = p; });
  });
  await stage('client-auth:foreign', async () => {
    const foreign = await mintForeign(naming, kind);
    await attempt(foreign, foreign.description, 'from a foreign CA', (p) => { clientAuth.foreign = p; });
  });
  if (!clientCa) missing.expired = 'no client CA given (--client-ca-cert/--client-ca-key), so the kit cannot make an expired certificate the endpoint would otherwise trust';
  await stage('client-auth:expired', async () => {
    if (!clientCa) return;
    const expired = await mintExpired(clientCa, naming, kind);
    await attempt(expired, expired.description, 'expired', (p) => { clientAuth.expired = p; });
  });
  const revoked = inputs.revokedCertPem && inputs.revokedKeyPem ? { certPem: inputs.revokedCertPem, keyPem: inputs.revokedKeyPem, description: '' } : undefined;
  if (!revoked) missing.revoked = 'no revoked client certificate given (--revoked-cert/--revoked-key)';
  await stage('client-auth:revoked', async () => {
    if (revoked) await attempt(revoked, 'given with --revoked-cert (revoked by its CA)', 'revoked', (p) => { clientAuth.revoked = p; });
  });

  return {
    endpoint, at: new Date(), versions, ...(legacyWithoutSni ? { legacyWithoutSni } : {}), tls13, suites, suiteProblems,
    tls12Hello: flight12?.hello,
    certificateRequested: plainFlight ? plainFlight.certificateRequested : undefined,
    plaintextVersion: plainVersion,
    ...(plaintextProblem ? { plaintextProblem } : {}),
    serverChain, serverChainSource, ...(serverChainProblem ? { serverChainProblem } : {}), chain, rsaBaseline, clientAuth, missing,
    ...(interrupted ? { interrupted } : {}),
  };
}
