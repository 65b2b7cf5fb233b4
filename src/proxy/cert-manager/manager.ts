/**
 * Certificate manager for one route (RFC 8555 client via acme-client): enrolls an ECDSA and an RSA
 * certificate for the route's names, keeps them in a state directory, renews each at its ARI window or
 * with a third of its lifetime left, and hands new credentials to listeners (the route hot-swaps them).
 * The renewal information is fetched again whenever the CA's Retry-After says (RFC 9773 §4.3), so a
 * window the CA moves (`wardgate renew-early` after a key compromise or a CA rollover) is acted on.
 * Failures retry on a jittered ladder; the current certificates stay in use meanwhile.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import https from 'node:https';
import { isIP } from 'node:net';
import { join } from 'node:path';
import acme from 'acme-client';
import { WardgateError } from '../../errors.ts';
import { writeFileAtomic } from '../../store/atomic-file.ts';
import { type Credentials, type KeyPair, checkPair } from '../credentials.ts';
import { certValidity, fetchRenewalInfo, getJson } from './ari.ts';
import type { Http01Responder } from './http01.ts';
import { tryLock } from './lock.ts';
import { type Window, nextAriCheckMs, renewalTime, retryDelayMs, sameWindow } from './renewal.ts';

export type ManagedKeyType = 'ecdsa' | 'rsa';

export interface CertManagerOptions {
  directoryUrl: string;
  names: string[];
  stateDir: string;
  http01: Http01Responder;
  /** PEM bundle trusted for the ACME server's HTTPS (a private CA's directory). */
  directoryCa?: string;
  email?: string;
  keyTypes?: ManagedKeyType[];
  log?: (message: string) => void;
  /** Bound on one HTTP exchange with the CA (ARI fetch: whole exchange; acme-client: socket idle time). */
  requestTimeoutMs?: number;
  /** Bound on one whole enrollment (all requests, retries and polling): a stuck CA cannot hold renewal. */
  enrollTimeoutMs?: number;
  /** Shortest time between renewal-information checks (RFC 9773 §4.3.2 suggests a minute; tests go lower). */
  ariMinPollMs?: number;
}

/** No ACME response (directory, order, chain) comes near this; a bigger one is a broken or hostile CA. */
const MAX_RESPONSE_BYTES = 1024 * 1024;
/** Tolerated clock skew between the CA and us for a fresh certificate's notBefore. */
const CLOCK_SKEW_MS = 5 * 60_000;

interface Managed {
  kind: ManagedKeyType;
  pair: KeyPair;
  renewAt: Date;
  attempts: number;
  /** The CA's window renewAt was drawn from; a new draw only when the CA moves it. */
  window?: Window;
  /** When to ask the CA for renewal information again. */
  ariCheckAt: Date;
}

/** acme-client sends all requests through one axios instance: its HTTPS agent is process-wide. */
/** Node's codes for a server certificate that does not verify (name mismatch included). */
const UNVERIFIED_SERVER = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_UNTRUSTED', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERR_TLS_CERT_ALTNAME_INVALID',
]);

function trustDirectoryCa(ca: string | undefined): void {
  if (ca) acme.axios.defaults.httpsAgent = new https.Agent({ ca, keepAlive: true });
}

/**
 * Same instance, so also process-wide: axios otherwise reads bodies of any size, follows redirects
 * (RFC 8555 uses none) and waits forever on a silent socket.
 */
function boundAcmeHttp(requestTimeoutMs: number): void {
  acme.axios.defaults.maxContentLength = MAX_RESPONSE_BYTES;
  acme.axios.defaults.maxRedirects = 0;
  acme.axios.defaults.timeout = requestTimeoutMs;
}

/** Rejects after `ms`; the loser keeps running in the background, its result is ignored. */
function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

/** Why a certificate must not serve `names` now, or undefined when it may. */
function certificateProblem(certPem: string, names: string[], now = Date.now()): string | undefined {
  const { notBefore, notAfter } = certValidity(certPem);
  if (notAfter.getTime() <= now || notBefore.getTime() > now + CLOCK_SKEW_MS) {
    return `certificate is not valid now (${notBefore.toISOString()} to ${notAfter.toISOString()})`;
  }
  const info = acme.crypto.readCertificateInfo(certPem);
  const certified = new Set([info.domains.commonName, ...info.domains.altNames].filter(Boolean));
  const missing = names.filter((n) => !certified.has(n));
  return missing.length ? `certificate does not certify ${missing.join(', ')}` : undefined;
}

/** A third of the lifetime left: the schedule until the CA's renewal information says otherwise. */
function fallbackRenewal(certPem: string): Date {
  const { notBefore, notAfter } = certValidity(certPem);
  return renewalTime(notBefore, notAfter);
}

export class CertManager {
  private readonly keyTypes: ManagedKeyType[];
  private readonly managed = new Map<ManagedKeyType, Managed>();
  private readonly listeners: Array<(creds: Credentials) => void> = [];
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private client: acme.Client | undefined;
  private readonly log: (message: string) => void;

  constructor(private readonly opts: CertManagerOptions) {
    if (opts.names.length === 0) throw new WardgateError('CONFIG_INVALID', 'ACME certificate manager needs at least one name');
    this.keyTypes = opts.keyTypes ?? ['ecdsa', 'rsa'];
    this.log = opts.log ?? (() => undefined);
    mkdirSync(opts.stateDir, { recursive: true, mode: 0o700 });
  }

  get credentials(): Credentials {
    return { pairs: this.keyTypes.map((k) => this.managed.get(k)!.pair) };
  }

  /** When each certificate is due for renewal (for logs and tests). */
  schedule(): Record<string, Date> {
    return Object.fromEntries([...this.managed].map(([k, m]) => [k, m.renewAt]));
  }

  onChange(fn: (creds: Credentials) => void): void {
    this.listeners.push(fn);
  }

  private file(kind: ManagedKeyType, ext: 'pem' | 'key'): string {
    return join(this.opts.stateDir, `${this.opts.names[0].replace(/[^A-Za-z0-9.-]/g, '_')}-${kind}.${ext}`);
  }

  /** Load stored certificates that are still valid for our names, enroll the rest; start the renewal timer. */
  async start(): Promise<Credentials> {
    trustDirectoryCa(this.opts.directoryCa);
    boundAcmeHttp(this.opts.requestTimeoutMs ?? 30_000);
    await this.opts.http01.start();
    for (const kind of this.keyTypes) {
      const stored = this.load(kind);
      const pair = stored ?? await this.enroll(kind);
      if (stored) this.log(`acme: loaded ${kind} certificate for ${this.opts.names.join(', ')} from ${this.opts.stateDir}`);
      const m: Managed = { kind, pair, renewAt: fallbackRenewal(pair.cert), attempts: 0, ariCheckAt: new Date(0) };
      await this.checkRenewalInfo(m, true);
      this.managed.set(kind, m);
    }
    this.arm();
    return this.credentials;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /** Renew now (all key types), e.g. after a key compromise or for tests; listeners get the new credentials. */
  async renewNow(): Promise<Credentials> {
    for (const kind of this.keyTypes) await this.renew(kind);
    return this.credentials;
  }

  private load(kind: ManagedKeyType): KeyPair | undefined {
    const certFile = this.file(kind, 'pem');
    const keyFile = this.file(kind, 'key');
    if (!existsSync(certFile) || !existsSync(keyFile)) return undefined;
    try {
      const pair = checkPair({ cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') }, certFile);
      return certificateProblem(pair.cert, this.opts.names) ? undefined : pair;
    } catch {
      return undefined;
    }
  }

  /**
   * Ask the CA for the certificate's renewal window. renewAt is drawn again only when the window is new
   * or has moved: redrawing at every check would re-roll the random point, and would undo the retry
   * ladder after a failed renewal. Without a window (the CA has no ARI or does not answer) renewAt stays
   * at a third of the lifetime left. `fresh`: a certificate not yet checked.
   */
  private async checkRenewalInfo(m: Managed, fresh = false): Promise<void> {
    const { notBefore, notAfter } = certValidity(m.pair.cert);
    const cert = m.pair.cert;
    const info = await fetchRenewalInfo(this.opts.directoryUrl, cert, this.opts.directoryCa, this.opts.requestTimeoutMs);
    // Renewed meanwhile (renewNow): this answer is about the certificate that was replaced.
    if (m.pair.cert !== cert) return;
    m.ariCheckAt = new Date(Date.now() + nextAriCheckMs(info.retryAfterMs, this.opts.ariMinPollMs));
    if (!info.window || (!fresh && sameWindow(info.window, m.window))) return;
    m.renewAt = renewalTime(notBefore, notAfter, info.window);
    m.window = info.window;
    if (!fresh) this.log(`acme: the CA moved the ${m.kind} certificate's renewal window to ${info.window.start.toISOString()} - ${info.window.end.toISOString()}; renewing at ${m.renewAt.toISOString()}`);
  }

  private async accountClient(): Promise<acme.Client> {
    if (this.client) return this.client;
    const keyFile = join(this.opts.stateDir, 'account.key');
    let accountKey: string;
    if (existsSync(keyFile)) accountKey = readFileSync(keyFile, 'utf8');
    else {
      accountKey = (await acme.crypto.createPrivateEcdsaKey('P-256')).toString();
      writeFileAtomic(keyFile, accountKey, 0o600);
    }
    const client = new acme.Client({ directoryUrl: this.opts.directoryUrl, accountKey });
    // RFC 8555 §7.3: creating an account for a key that already has one returns the existing account.
    await client.createAccount({ termsOfServiceAgreed: true, ...(this.opts.email ? { contact: [`mailto:${this.opts.email}`] } : {}) });
    this.client = client;
    return client;
  }

  /**
   * A directory whose certificate does not verify fails at once, saying what to do: through acme-client
   * it took its retries (76 s) and ended as a TypeError from inside it. Other failures (the CA down for a
   * moment) are left to the order and its retries.
   */
  private async checkDirectoryTrust(): Promise<void> {
    try {
      await getJson(this.opts.directoryUrl, this.opts.directoryCa, this.opts.requestTimeoutMs ?? 30_000);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (!UNVERIFIED_SERVER.has(code)) return;
      throw new WardgateError('ACME_CLIENT_FAILED', `cannot verify the TLS certificate of the ACME server ${this.opts.directoryUrl} (${code}: ${(err as Error).message}): ${this.opts.directoryCa
        ? 'the trust bundle given for it (--acme-ca, tls.acme.directoryCa) does not hold its CA'
        : 'for a private CA such as wardgate\'s, give its root with --acme-ca FILE (tls.acme.directoryCa)'}`, { cause: err });
    }
  }

  private async enroll(kind: ManagedKeyType): Promise<KeyPair> {
    const { names } = this.opts;
    await this.checkDirectoryTrust();
    try {
      const pair = await withDeadline(this.order(kind), this.opts.enrollTimeoutMs ?? 15 * 60_000, `ACME ${kind} enrollment`);
      // Checked before the pair touches the disk or the route: a CA's mistake must not replace a good certificate.
      const problem = certificateProblem(pair.cert, names);
      if (problem) throw new WardgateError('ACME_CLIENT_FAILED', `ACME ${kind} certificate for ${names.join(', ')} refused: ${problem}`);
      writeFileAtomic(this.file(kind, 'key'), pair.key, 0o600);
      writeFileAtomic(this.file(kind, 'pem'), pair.cert);
      this.log(`acme: issued ${kind} certificate for ${names.join(', ')} (serial ${certValidity(pair.cert).serial})`);
      return pair;
    } catch (err) {
      if (err instanceof WardgateError) throw err;
      throw new WardgateError('ACME_CLIENT_FAILED', `ACME ${kind} certificate for ${names.join(', ')} from ${this.opts.directoryUrl}: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * One order with the CA; the key must match the returned leaf. The order is made step by step, not
   * with acme-client's `auto`, which orders `dns` identifiers only: a gateway in front of a device that
   * peers reach by address needs an `ip` identifier (RFC 8738), validated over http-01 as well.
   */
  private async order(kind: ManagedKeyType): Promise<KeyPair> {
    const { names, http01 } = this.opts;
    const client = await this.accountClient();
    const key = kind === 'ecdsa' ? await acme.crypto.createPrivateEcdsaKey('P-256') : await acme.crypto.createPrivateRsaKey(2048);
    // acme-client puts IP addresses into the CSR as iPAddress names; a CN is given only for a DNS name.
    const dnsName = names.find((n) => isIP(n) === 0);
    const [, csr] = await acme.crypto.createCsr({ ...(dnsName ? { commonName: dnsName } : {}), altNames: names }, key);
    const order = await client.createOrder({ identifiers: names.map((value) => ({ type: isIP(value) ? 'ip' : 'dns', value })) });
    for (const authz of await client.getAuthorizations(order)) {
      if (authz.status === 'valid') continue;
      const challenge = authz.challenges.find((c) => c.type === 'http-01');
      if (!challenge) throw new WardgateError('ACME_CLIENT_FAILED', `the CA offers no http-01 challenge for ${authz.identifier.value} (offered: ${authz.challenges.map((c) => c.type).join(', ') || 'none'})`);
      // The client cannot resolve names the way the CA does (split DNS inside hospitals): the CA judges.
      http01.set(challenge.token, await client.getChallengeKeyAuthorization(challenge));
      try {
        await client.completeChallenge(challenge);
        await client.waitForValidStatus(challenge);
      } finally {
        http01.delete(challenge.token);
      }
    }
    const finalized = await client.finalizeOrder(order, csr);
    const chain = await client.getCertificate(finalized);
    return checkPair({ cert: chain, key: key.toString() }, `ACME ${kind} certificate for ${names[0]}`);
  }

  private async renew(kind: ManagedKeyType): Promise<void> {
    const release = tryLock(join(this.opts.stateDir, `${this.opts.names[0]}-${kind}.lock`));
    const m = this.managed.get(kind)!;
    if (!release) {
      // Another process renews; pick its result up from disk shortly.
      m.renewAt = new Date(Date.now() + 30_000);
      const stored = this.load(kind);
      if (stored && stored.cert !== m.pair.cert) this.swap(m, stored);
      return;
    }
    try {
      const pair = await this.enroll(kind);
      m.attempts = 0;
      m.renewAt = fallbackRenewal(pair.cert);
      m.window = undefined;
      this.swap(m, pair);
      await this.checkRenewalInfo(m, true);
    } catch (err) {
      m.attempts++;
      m.renewAt = new Date(Date.now() + retryDelayMs(m.attempts));
      this.log(`acme: renewal of the ${kind} certificate failed (attempt ${m.attempts}, retry at ${m.renewAt.toISOString()}): ${(err as Error).message}`);
      throw err;
    } finally {
      release();
    }
  }

  private swap(m: Managed, pair: KeyPair): void {
    m.pair = pair;
    const creds = this.credentials;
    for (const fn of this.listeners) fn(creds);
  }

  private arm(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    const next = Math.min(...[...this.managed.values()].map((m) => Math.min(m.renewAt.getTime(), m.ariCheckAt.getTime())));
    // setTimeout holds at most ~24.8 days; wake up at least daily to re-check.
    const delay = Math.max(1000, Math.min(next - Date.now(), 86_400_000));
    this.timer = setTimeout(() => void this.tick(), delay);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    for (const m of this.managed.values()) {
      if (this.stopped) return;
      if (m.renewAt.getTime() > Date.now() && m.ariCheckAt.getTime() <= Date.now()) await this.checkRenewalInfo(m);
      if (m.renewAt.getTime() <= Date.now()) await this.renew(m.kind).catch(() => undefined);
    }
    this.arm();
  }
}
