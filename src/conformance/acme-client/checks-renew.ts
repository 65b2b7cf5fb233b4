/**
 * Judges of the Renew Certificate transaction (RFC 9773 ARI) and of trust anchor retrieval at renewal
 * (RFC 7030 §4.1), on the ExchangeRecord. A renewal is an order made after a certificate for any of its
 * names was issued; it replaces the latest such certificate. A run can hold several (the renew phase
 * renews the first certificate, the order-not-ready phase the one that renewal got), and the ARI
 * judges look at each.
 */
import { fail, inconclusive, notApplicable, pass, type Verdict } from '../verdict.ts';
import type { ExchangeRecord, RecordedCertificate, RecordedOrder } from './exchange.ts';
import { acmeRequests, claims, commandSummary, firstCertificate, renewalOrders, s, TIMING_SLACK_MS, windowInEffect } from './record-query.ts';

/** Every renewal order of the run, first first, with the certificate it replaces. */
function renewals(r: ExchangeRecord): Array<{ cert: RecordedCertificate; renewal: RecordedOrder }> {
  return r.orders.flatMap((renewal) => {
    const earlier = r.certificates.filter((c) => c.issuedAt < renewal.at && c.orderId !== renewal.id && c.names.some((n) => renewal.identifiers.some((i) => i.value === n)));
    const cert = earlier.reduce<RecordedCertificate | undefined>((latest, c) => (!latest || c.issuedAt > latest.issuedAt ? c : latest), undefined);
    return cert ? [{ cert, renewal }] : [];
  }).sort((a, b) => a.renewal.at - b.renewal.at);
}

/** Why an order got no certificate, from what the store and the responses show. */
function orderFailure(r: ExchangeRecord, o: RecordedOrder): string {
  const challenges = o.authorizations.flatMap((a) => a.challenges.filter((c) => c.error).map((c) => `${c.type} for ${a.identifier.value}: ${c.error}`));
  const csrs = o.csrs.filter((c) => c.error).map((c) => `CSR refused: ${c.error}`);
  const problems = acmeRequests(r).filter((q) => q.group === `order:${o.id}` && q.response.problem).map((q) => `${q.resource} answered ${q.response.status} ${q.response.problem}`);
  const why = [...challenges, ...csrs, ...problems];
  return `the order ended ${o.status}${why.length ? ` (${why.slice(0, 2).join('; ')}${why.length > 2 ? `; and ${why.length - 2} more` : ''})` : ''}`;
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
  const ordered = renewalOrders(r, cert).filter((o) => o.phase === 'renew' && acmeRequests(r).some((q) => q.response.location === o.url && q.invocation === run.invocation));
  // An order alone is not a renewal: the device still holds the old certificate until one is issued.
  const issued = ordered.find((o) => r.certificates.some((c) => c.orderId === o.id));
  if (issued) return pass(`with ${(left * 100).toFixed(0)}% of the lifetime left (${s(na - at)} of ${s(na - nb)}), the client's first renewal run ordered and obtained a new certificate.`);
  if (ordered.length) return fail(`with ${(left * 100).toFixed(0)}% of the lifetime left the client's first renewal run ordered a new certificate but obtained none: ${orderFailure(r, ordered.at(-1)!)}${ordered.length > 1 ? ` (${ordered.length} orders, none issued)` : ''}.`);
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

/**
 * ICM-REN-004 (ARI): every renewal comes inside the window in effect for the certificate it replaces,
 * never before its start. One after the window closed fails only when the client ran while the window
 * was open: a run the kit started after the window closed rightly renews at once (RFC 9773 §4.2).
 */
export function ariWindow(r: ExchangeRecord): Verdict {
  if (!claims(r, 'ARI')) return notApplicable('the client does not claim the ARI option.');
  const cert = firstCertificate(r);
  if (!cert) return inconclusive('no certificate was issued in the enroll phase.');
  const all = renewals(r);
  if (all.length === 0) {
    const w = windowInEffect(r, cert, r.endedAt);
    if (r.endedAt > w.end) return fail(`the client never renewed although the suggested window [${iso(r, w.start)}, ${iso(r, w.end)}] had closed before the run ended.`);
    return inconclusive(`the client did not renew before the run ended, and the window [${iso(r, w.start)}, ${iso(r, w.end)}] was still open.`);
  }
  const bad: string[] = [];
  const late: string[] = [];
  for (const { cert: c, renewal } of all) {
    const w = windowInEffect(r, c, renewal.at);
    const where = `certificate ${c.serial}: window [${iso(r, w.start)}, ${iso(r, w.end)}], ${renewal.phase} renewal order at ${iso(r, renewal.at)}`;
    if (renewal.at < w.start - TIMING_SLACK_MS) bad.push(`${s(w.start - renewal.at)} before the suggested window opened (${where})`);
    else if (renewal.at > w.end + TIMING_SLACK_MS) {
      // The run that obtained the certificate is not expected to replace it straight away.
      const maker = acmeRequests(r).find((q) => q.resource === 'newOrder' && q.response.location === r.orders.find((o) => o.id === c.orderId)?.url)?.invocation;
      const ranInWindow = r.commands.some((cmd) => cmd.invocation !== maker && cmd.startedAt <= w.end && cmd.startedAt + cmd.ms >= w.start);
      (ranInWindow ? bad : late).push(`${s(renewal.at - w.end)} after the suggested window closed (${where})`);
    }
  }
  if (bad.length) return fail(`${bad.length} of ${all.length} renewal(s) outside the suggested window: ${bad.slice(0, 3).join('; ')}.`);
  const lateText = late.length ? `; ${late.length} came after the window had closed, in a run the kit started later, at once (${late[0]})` : '';
  return pass(`all ${all.length} renewal(s) came inside the suggested window of the certificate they replace (${all.slice(0, 2).map(({ cert: c, renewal }) => `${c.serial} renewed at ${iso(r, renewal.at)}`).join('; ')})${lateText}.`);
}

/** Allowance for an early renewalInfo fetch: 10 % of the Retry-After, at least TIMING_SLACK_MS. */
const ariSlack = (retryAfterSeconds: number) => Math.max(TIMING_SLACK_MS, retryAfterSeconds * 100);

/**
 * RFC 9773 §4.3: "In this protocol, [Retry-After] indicates both the earliest time and a target time",
 * and §4.3.2: "After an initial fetch of a certificate's RenewalInfo, clients SHOULD fetch it again as
 * soon as possible after the time indicated in the Retry-After header". Fetching earlier is against a
 * SHOULD, so it is reported, not failed. Pairs from different runs are not judged: the kit, not the
 * client, decides when a run starts.
 */
function earlyRenewalInfoFetches(r: ExchangeRecord): string[] {
  const fetches = acmeRequests(r).filter((q) => q.resource === 'renewalInfo');
  const early: string[] = [];
  fetches.forEach((q, i) => {
    const certId = q.url.split('/').pop();
    const prev = fetches.slice(0, i).reverse().find((p) => p.url.split('/').pop() === certId && p.invocation === q.invocation);
    const ra = prev?.response.retryAfter;
    if (!prev || ra === undefined || prev.response.status !== 200) return;
    const waited = q.at - prev.respondedAt;
    if (waited < ra * 1000 - ariSlack(ra)) early.push(`${s(waited)} after a Retry-After of ${ra} s (run ${q.invocation}, ${decodeURIComponent(certId ?? '')})`);
  });
  return early;
}

/**
 * ICM-REN-005 (ARI): the first certificate's window is pulled forward `plan.ari.pullAfter` s after
 * issuance; a client that fetches renewalInfo again after Retry-After sees it before renewing. Only
 * the first certificate's window moves (fault-plan.ts windowAt), so that part is judged on it; the
 * polling interval is judged on every certificate's fetches.
 */
export function ariRetryAfter(r: ExchangeRecord): Verdict {
  if (!claims(r, 'ARI')) return notApplicable('the client does not claim the ARI option.');
  const cert = firstCertificate(r);
  if (!cert) return inconclusive('no certificate was issued in the enroll phase.');
  const renewal = renewals(r).find((x) => x.cert.serial === cert.serial)?.renewal;
  const pull = cert.issuedAt + r.plan.ari.pullAfter * 1000;
  const fetches = acmeRequests(r).filter((q) => q.resource === 'renewalInfo' && q.url.endsWith(`/${cert.certId}`));
  if (fetches.length === 0) return fail('the client never fetched renewalInfo for its certificate, so it cannot see a window that moves.');
  const seen = fetches.find((q) => q.at >= pull && (!renewal || q.at <= renewal.at));
  const gaps = fetches.slice(1).map((q, i) => q.at - fetches[i].respondedAt);
  const gapText = gaps.length ? `; intervals between fetches ${gaps.map(s).join(', ')} (Retry-After ${r.plan.ari.retryAfterSeconds} s)` : '';
  const early = earlyRenewalInfoFetches(r);
  const earlyText = early.length ? ` Remark (RFC 9773 §4.3.2 SHOULD): ${early.length} renewalInfo fetch(es) came before Retry-After had elapsed: ${early.slice(0, 3).join('; ')}${early.length > 3 ? `; and ${early.length - 3} more` : ''}.` : '';
  if (seen) return pass(`the client fetched renewalInfo ${fetches.length} time(s) and saw the window pulled forward at ${iso(r, pull)} before renewing${gapText}.${earlyText}`);
  if (renewal && renewal.at < pull) return fail(`the client renewed at ${iso(r, renewal.at)}, before the window was pulled forward, so it followed no served window${gapText}.${earlyText}`);
  const ranAfter = r.commands.some((c) => c.startedAt + c.ms > pull + r.plan.ari.retryAfterSeconds * 1000);
  if (!ranAfter) return inconclusive(`the client was not running after the window was pulled forward (${iso(r, pull)})${gapText}.${earlyText}`);
  return fail(`the client did not fetch renewalInfo again after its Retry-After, so it missed the window pulled forward at ${iso(r, pull)}${gapText}.${earlyText}`);
}

/** ICM-REN-006 (ARI): every renewal order names the replaced certificate's certID in `replaces`. */
export function ariReplaces(r: ExchangeRecord): Verdict {
  if (!claims(r, 'ARI')) return notApplicable('the client does not claim the ARI option.');
  const all = renewals(r);
  if (all.length === 0) return inconclusive('no renewal order was made.');
  const wrong = all.filter(({ cert, renewal }) => renewal.replaces !== cert.certId).map(({ cert, renewal }) => {
    const sent = acmeRequests(r).find((q) => q.response.location === renewal.url)?.jws?.payload as { replaces?: unknown } | undefined;
    return `the ${renewal.phase} renewal order carried ${sent?.replaces === undefined ? 'no "replaces"' : `replaces = ${JSON.stringify(sent.replaces)}`}; expected ${cert.certId}`;
  });
  if (wrong.length) return fail(`${wrong.length} of ${all.length} renewal order(s) without the right "replaces": ${wrong.slice(0, 3).join('; ')}.`);
  return pass(`all ${all.length} renewal order(s) carried replaces = the certID of the certificate they replace (${[...new Set(all.map(({ cert }) => cert.certId))].join(', ')}; RFC 9773 §5).`);
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
