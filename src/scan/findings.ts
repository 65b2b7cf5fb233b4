/**
 * Findings: the stable ids of issue 5, raised from what the probes saw. One function per family so
 * each rule can be read and tested alone; `evaluateFindings` runs them all.
 */
import type { X509Certificate } from 'node:crypto';
import type { Advisory } from './advisories.ts';
import { WEAK_SIGNATURE, certTime, certTimeIso, isSelfSigned, isWeakKey, keyOf, signatureAlgorithmOf } from './certificate.ts';
import { recommend, type RecommendationContext } from './recommendations.ts';
import type { Finding, FindingId, Lang, Protocol, Severity } from './types.ts';

export const SEVERITY: Record<FindingId, Severity> = {
  'plaintext-dicom': 'high',
  'plaintext-hl7': 'high',
  'cert-expired': 'high',
  // Refused by every verifier, like an expired one (RFC 5280 §6.1.3 (a)(2)).
  'cert-not-yet-valid': 'high',
  'cert-expiring-soon': 'medium',
  'cert-self-signed': 'medium',
  'cert-untrusted-issuer': 'medium',
  'cert-weak-key': 'high',
  'cert-weak-signature': 'medium',
  'cert-hostname-mismatch': 'medium',
  'tls-legacy-version': 'medium',
  'tls-weak-cipher': 'medium',
  'dicom-any-ae-accepted': 'medium',
  'dicom-known-vulnerable': 'high',
};

export const SEVERITY_ORDER: Severity[] = ['critical', 'high', 'medium', 'low', 'info'];

export interface ExpiryPolicy {
  /** Flag when less than this fraction of the lifetime is left ... (default 1/3, as certmagic renews) */
  fraction: number;
  /** ... and fewer than this many days (default 30). Both must hold, so short-lived certificates pass. */
  days: number;
}

export const DEFAULT_EXPIRY: ExpiryPolicy = { fraction: 1 / 3, days: 30 };

export interface ServiceFacts {
  address: string;
  hostname?: string;
  port: number;
  protocol: Protocol;
  tls: boolean;
  /** A TLS port that answered the protocol probe in plaintext as well. */
  plaintextToo?: boolean;
  chain?: X509Certificate[];
  trusted?: boolean;
  hostnameMatches?: boolean | null;
  legacyVersions?: string[];
  weakCiphers?: string[];
  anyAeAccepted?: boolean;
  advisories?: Advisory[];
}

export interface FindingOptions {
  lang: Lang;
  now: Date;
  expiry: ExpiryPolicy;
  gateway?: string;
  acmeUrl?: string;
}

const DAY = 86_400_000;

export function expiryFindings(leaf: X509Certificate, now: Date, policy: ExpiryPolicy): FindingId[] {
  const notBefore = certTime(leaf.validFrom);
  const notAfter = certTime(leaf.validTo);
  // An unreadable notAfter is refused by every verifier, like an expired one.
  if (Number.isNaN(notAfter)) return ['cert-expired'];
  const left = notAfter - now.getTime();
  if (left <= 0) return ['cert-expired'];
  // RFC 5280 §4.1.2.5: not valid before notBefore either (a device or CA clock set wrong).
  if (notBefore > now.getTime()) return ['cert-not-yet-valid'];
  const lifetime = notAfter - notBefore;
  if (left < lifetime * policy.fraction && left < policy.days * DAY) return ['cert-expiring-soon'];
  return [];
}

export function certificateFindings(f: ServiceFacts, options: FindingOptions): Array<{ id: FindingId; detail?: string }> {
  const chain = f.chain ?? [];
  if (chain.length === 0) return [];
  const leaf = chain[0];
  const out: Array<{ id: FindingId; detail?: string }> = expiryFindings(leaf, options.now, options.expiry).map((id) => ({ id, detail: id === 'cert-not-yet-valid' ? `notBefore ${certTimeIso(leaf.validFrom)}` : `notAfter ${certTimeIso(leaf.validTo)}` }));
  if (!f.trusted) out.push(isSelfSigned(leaf) ? { id: 'cert-self-signed' } : { id: 'cert-untrusted-issuer', detail: `issuer ${leaf.issuer.split('\n').join(', ')}` });
  const key = keyOf(leaf.publicKey);
  if (isWeakKey(key.keyType, key.keyBits)) out.push({ id: 'cert-weak-key', detail: `${key.keyType} ${key.keyBits} bits` });
  // The signature on a self-signed root is never checked by peers (RFC 5280 §6.1), so only
  // certificates signed by someone else count, plus a self-signed leaf (its signature is what a pinning peer sees).
  const weak = chain
    .filter((c, i) => i === 0 || !isSelfSigned(c))
    .map((c) => signatureAlgorithmOf(c.raw))
    .filter((alg) => WEAK_SIGNATURE.test(alg));
  if (weak.length > 0) out.push({ id: 'cert-weak-signature', detail: [...new Set(weak)].join(', ') });
  if (f.hostnameMatches === false) out.push({ id: 'cert-hostname-mismatch', detail: `checked ${f.hostname ?? f.address}` });
  return out;
}

export function evaluateFindings(f: ServiceFacts, options: FindingOptions): Finding[] {
  const raised: Array<{ id: FindingId; detail?: string; severity?: Severity; ctx?: Partial<RecommendationContext> }> = [];
  // On a TLS port, plaintext is raised only when the protocol answered in plaintext as well.
  const plain = f.tls ? f.plaintextToo === true : true;
  const plainDetail = f.tls ? 'answered in plaintext on the same port that also speaks TLS: TLS is optional here' : undefined;
  if (plain && f.protocol === 'dicom') raised.push({ id: 'plaintext-dicom', detail: plainDetail });
  if (plain && f.protocol === 'hl7') raised.push({ id: 'plaintext-hl7', detail: plainDetail });
  if (f.tls) {
    raised.push(...certificateFindings(f, options));
    if (f.legacyVersions?.length) raised.push({ id: 'tls-legacy-version', detail: f.legacyVersions.join(', ') });
    if (f.weakCiphers?.length) raised.push({ id: 'tls-weak-cipher', detail: f.weakCiphers.join(', ') });
  }
  if (f.protocol === 'dicom' && f.anyAeAccepted) raised.push({ id: 'dicom-any-ae-accepted' });
  if (f.protocol === 'dicom' && f.advisories?.length) {
    const worst = SEVERITY_ORDER.find((s) => f.advisories!.some((a) => a.severity === s)) ?? 'high';
    const ids = f.advisories.flatMap((a) => a.cves).join(', ');
    const fixedIn = f.advisories.map((a) => a.fixedIn).sort().at(-1)!;
    raised.push({ id: 'dicom-known-vulnerable', severity: worst, detail: f.advisories.map((a) => a.id).join(', '), ctx: { advisory: { ids, fixedIn, source: f.advisories.map((a) => a.source).join(' ') } } });
  }
  return raised.map((r) => {
    const text = recommend(r.id, options.lang, { address: f.address, port: f.port, hostname: f.hostname, protocol: f.protocol, gateway: options.gateway, acmeUrl: options.acmeUrl, ...r.ctx });
    const finding: Finding = { id: r.id, severity: r.severity ?? SEVERITY[r.id], title: text.title, recommendation: text.recommendation };
    if (r.detail) finding.detail = r.detail;
    return finding;
  });
}
