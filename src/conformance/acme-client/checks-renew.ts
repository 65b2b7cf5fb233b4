/**
 * Judges of the Renew Certificate transaction (RFC 9773 ARI) and of trust anchor retrieval at renewal
 * (RFC 7030 §4.1), on the ExchangeRecord. The renewal of a certificate is the first order, made after
 * it was issued, for any of its names.
 */
import { fail, inconclusive, notApplicable, pass, type Verdict } from '../verdict.ts';
import type { ExchangeRecord, RecordedCertificate, RecordedOrder } from './exchange.ts';
import { acmeRequests, claims, commandSummary, firstCertificate, renewalOrders, s, TIMING_SLACK_MS, windowInEffect } from './record-query.ts';

function firstRenewal(r: ExchangeRecord): { cert?: RecordedCertificate; renewal?: RecordedOrder } {
  const cert = firstCertificate(r);
  return { cert, renewal: cert ? renewalOrders(r, cert)[0] : undefined };
}

const iso = (r: ExchangeRecord, rel: number) => new Date(Date.parse(r.startedAt) + rel).toISOString();

/**
 * ICM-REN-001: the kit runs the renewal command when a third or less of the certificate's lifetime is
 * left (kit certificates are short-lived); without ARI the client must renew in that run.
 */
export function renewalTiming(r: ExchangeRecord): Verdict {
  if (claims(r, 'ARI')) return notApplicable('the client claims ARI: its renewal time is judged against the served window (ICM-REN-004).');
  const cert = firstCertificate(r);
  if (!cert) return inconclusive(`no certificate was issued in the enroll phase (${commandSummary(r)}).`);
  const run = r.commands.find((c) => c.phase === 'renew');
  if (!run) return inconclusive('the renew phase did not run.');
  const nb = Date.parse(cert.notBefore);
  const na = Date.parse(cert.notAfter);
  const at = Date.parse(r.startedAt) + run.startedAt;
  const left = (na - at) / (na - nb);
  if (left > 1 / 3) return inconclusive(`when the renewal command ran, ${(left * 100).toFixed(0)}% of the certificate's lifetime was left, more than a third; the kit's timing did not exercise the rule.`);
  const renewal = renewalOrders(r, cert).find((o) => o.phase === 'renew' && acmeRequests(r).some((q) => q.response.location === o.url && q.invocation === run.invocation));
  if (renewal) return pass(`with ${(left * 100).toFixed(0)}% of the lifetime left (${s(na - at)} of ${s(na - nb)}), the client's first renewal run ordered a new certificate.`);
  return fail(`the client ran with only ${(left * 100).toFixed(0)}% of its certificate's lifetime left and did not renew (exit ${run.exitCode ?? run.signal}).`);
}

/** ICM-REN-002: every renewal CSR carries a key no earlier certificate had. */
export function newKeyOnRenewal(r: ExchangeRecord): Verdict {
  const checked: string[] = [];
  const reused: string[] = [];
  for (const o of r.orders) {
    const earlier = r.certificates.filter((c) => c.issuedAt < o.at && c.names.some((n) => o.identifiers.some((i) => i.value === n)));
    if (earlier.length === 0) continue;
    for (const c of o.csrs.filter((x) => !x.error)) {
      const same = earlier.find((e) => e.spkiSha256 === c.spkiSha256);
      (same ? reused : checked).push(same ? `${o.phase} CSR reuses the key of certificate ${same.serial}` : `${o.phase} CSR`);
    }
  }
  if (reused.length) return fail(`renewal reused a certificate key: ${reused.join('; ')}.`);
  if (checked.length === 0) return inconclusive('no renewal CSR was sent.');
  return pass(`${checked.length} renewal CSR(s), each with a key pair not used by any earlier certificate.`);
}

/** ICM-REN-003 (ARI): unauthenticated GET renewalInfo/<certID> of an issued certificate. */
export function ariFetch(r: ExchangeRecord): Verdict {
  if (!claims(r, 'ARI')) return notApplicable('the client does not claim the ARI option.');
  if (r.certificates.length === 0) return inconclusive('no certificate was issued, so there was nothing to ask renewalInfo about.');
  const fetches = acmeRequests(r).filter((q) => q.resource === 'renewalInfo');
  if (fetches.length === 0) return fail('the client claims ARI but never requested renewalInfo.');
  const ids = new Set(r.certificates.map((c) => c.certId));
  const bad = fetches.filter((q) => q.method !== 'GET' || q.jws || !ids.has(decodeURIComponent(q.url.split('/').pop() ?? '')));
  if (bad.length) return fail(`renewalInfo requests not of the form GET <renewalInfo>/<certID of an issued certificate>: ${bad.slice(0, 3).map((q) => `${q.method} ${q.url} -> ${q.response.status}`).join('; ')}.`);
  return pass(`${fetches.length} renewalInfo GET(s), unauthenticated, each for the RFC 9773 §4.1 certID of an issued certificate.`);
}

/** ICM-REN-004 (ARI): the renewal comes inside the window in effect, never before its start. */
export function ariWindow(r: ExchangeRecord): Verdict {
  if (!claims(r, 'ARI')) return notApplicable('the client does not claim the ARI option.');
  const { cert, renewal } = firstRenewal(r);
  if (!cert) return inconclusive('no certificate was issued in the enroll phase.');
  if (!renewal) {
    const w = windowInEffect(r, cert, r.endedAt);
    if (r.endedAt > w.end) return fail(`the client never renewed although the suggested window [${iso(r, w.start)}, ${iso(r, w.end)}] had closed before the run ended.`);
    return inconclusive(`the client did not renew before the run ended, and the window [${iso(r, w.start)}, ${iso(r, w.end)}] was still open.`);
  }
  const w = windowInEffect(r, cert, renewal.at);
  const where = `window [${iso(r, w.start)}, ${iso(r, w.end)}] in effect, renewal order at ${iso(r, renewal.at)}`;
  if (renewal.at < w.start - TIMING_SLACK_MS) return fail(`the client renewed ${s(w.start - renewal.at)} before the suggested window opened (${where}).`);
  if (renewal.at > w.end + TIMING_SLACK_MS) return fail(`the client renewed ${s(renewal.at - w.end)} after the suggested window closed (${where}).`);
  return pass(`the renewal came inside the suggested window (${where}).`);
}

/**
 * ICM-REN-005 (ARI): the first certificate's window is pulled forward `plan.ari.pullAfter` s after
 * issuance; a client that fetches renewalInfo again after Retry-After sees it before renewing.
 */
export function ariRetryAfter(r: ExchangeRecord): Verdict {
  if (!claims(r, 'ARI')) return notApplicable('the client does not claim the ARI option.');
  const { cert, renewal } = firstRenewal(r);
  if (!cert) return inconclusive('no certificate was issued in the enroll phase.');
  const pull = cert.issuedAt + r.plan.ari.pullAfter * 1000;
  const fetches = acmeRequests(r).filter((q) => q.resource === 'renewalInfo' && q.url.endsWith(`/${cert.certId}`));
  if (fetches.length === 0) return fail('the client never fetched renewalInfo for its certificate, so it cannot see a window that moves.');
  const seen = fetches.find((q) => q.at >= pull && (!renewal || q.at <= renewal.at));
  const gaps = fetches.slice(1).map((q, i) => q.at - fetches[i].respondedAt);
  const gapText = gaps.length ? `; intervals between fetches ${gaps.map(s).join(', ')} (Retry-After ${r.plan.ari.retryAfterSeconds} s)` : '';
  if (seen) return pass(`the client fetched renewalInfo ${fetches.length} time(s) and saw the window pulled forward at ${iso(r, pull)} before renewing${gapText}.`);
  if (renewal && renewal.at < pull) return fail(`the client renewed at ${iso(r, renewal.at)}, before the window was pulled forward, so it followed no served window${gapText}.`);
  const ranAfter = r.commands.some((c) => c.startedAt + c.ms > pull + r.plan.ari.retryAfterSeconds * 1000);
  if (!ranAfter) return inconclusive(`the client was not running after the window was pulled forward (${iso(r, pull)})${gapText}.`);
  return fail(`the client did not fetch renewalInfo again after its Retry-After, so it missed the window pulled forward at ${iso(r, pull)}${gapText}.`);
}

/** ICM-REN-006 (ARI): the renewal order names the replaced certificate's certID in `replaces`. */
export function ariReplaces(r: ExchangeRecord): Verdict {
  if (!claims(r, 'ARI')) return notApplicable('the client does not claim the ARI option.');
  const { cert, renewal } = firstRenewal(r);
  if (!cert || !renewal) return inconclusive('no renewal order was made.');
  if (renewal.replaces === cert.certId) return pass(`the renewal order carried replaces = ${cert.certId} (RFC 9773 §5).`);
  const sent = acmeRequests(r).find((q) => q.response.location === renewal.url)?.jws?.payload as { replaces?: unknown } | undefined;
  return fail(`the renewal order carried ${sent?.replaces === undefined ? 'no "replaces"' : `replaces = ${JSON.stringify(sent.replaces)}`}; expected ${cert.certId}.`);
}

/** ICM-TA-004: each run of the client that renewed also fetched the trust anchors. */
export function trustAnchorRefresh(r: ExchangeRecord): Verdict {
  const cert = firstCertificate(r);
  if (!cert) return inconclusive('no certificate was issued.');
  const reqs = acmeRequests(r);
  const renewingRuns = [...new Set(renewalOrders(r, cert).map((o) => reqs.find((q) => q.response.location === o.url)?.invocation).filter((i): i is number => i !== undefined && i > 0))];
  if (renewingRuns.length === 0) return inconclusive('the client made no renewal order.');
  const fetched = (inv: number) => r.requests.some((q) => q.listener === 'distribution' && q.resource === 'cacerts' && q.invocation === inv && q.response.status === 200);
  const missing = renewingRuns.filter((inv) => !fetched(inv));
  if (missing.length) return fail(`${missing.length} of ${renewingRuns.length} renewing run(s) did not fetch the trust anchors (/.well-known/est/cacerts or /ca/root.pem on the distribution listener).`);
  return pass(`every renewing run (${renewingRuns.length}) fetched the trust anchors from the distribution listener.`);
}
