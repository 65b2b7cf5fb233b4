/**
 * Judges of the Enroll Certificate transaction (docs/ihe-profile/volume-2.md; RFC 8555, 8737, 8738).
 * Each is a pure function of the ExchangeRecord; the rule is in the comment and in checks.ts.
 */
import { fail, inconclusive, notApplicable, pass, type Verdict } from '../verdict.ts';
import type { ExchangeRecord, RecordedRequest } from './exchange.ts';
import { classifyTlsFailure } from './tls-refusal.ts';
import { acmeRequests, claims, isCanonicalIp, commandSummary, idKey, jwsRequests, lastOutput, s, TIMING_SLACK_MS } from './record-query.ts';

const list = (items: string[], max = 3) => items.slice(0, max).join('; ') + (items.length > max ? `; and ${items.length - max} more` : '');

/** ICM-GEN-005: at least one challenge of any type validated. */
export function challengeSupport(r: ExchangeRecord): Verdict {
  const valid = r.orders.flatMap((o) => o.authorizations.flatMap((a) => a.challenges.filter((c) => c.status === 'valid').map((c) => `${c.type} for ${a.identifier.value}`)));
  if (valid.length) return pass(`${valid.length} validation(s) succeeded: ${list([...new Set(valid)])}.`);
  if (r.orders.length === 0) return inconclusive(`the client created no order (${commandSummary(r)}).${lastOutput(r)}`);
  const tried = r.orders.flatMap((o) => o.authorizations.flatMap((a) => a.challenges.filter((c) => c.status !== 'pending').map((c) => `${c.type} ${c.status}${c.error ? ` (${c.error})` : ''}`)));
  return fail(`no validation succeeded in ${r.orders.length} order(s)${tried.length ? `: ${list(tried)}` : '; no challenge was answered'}.`);
}

/** ICM-ENR-001: every ACME URL used was the directory or revealed by an earlier response. */
export function directoryDiscovery(r: ExchangeRecord): Verdict {
  const reqs = acmeRequests(r);
  if (reqs.length === 0) return inconclusive(`the client sent no request to the test CA (${commandSummary(r)}).`);
  const bad = reqs.filter((q) => !q.discovered);
  if (bad.length) return fail(`${bad.length} request(s) used URLs the server never announced (the kit serves the directory under a random path): ${list(bad.map((q) => `${q.method} ${q.url} -> ${q.response.status}`))}.`);
  return pass(`all ${reqs.length} requests used the directory URL or URLs from earlier responses (directory, Location, Link, resource fields); the resources live under a random path prefix.`);
}

/**
 * ICM-ENR-002: against a foreign server certificate the client sends nothing over the connection, and
 * the handshake failure shows it refused the certificate (tls-refusal.ts): a certificate alert, or a
 * hang-up after the server's certificate flight. A failure to negotiate proves nothing about that.
 */
export function serverAuthentication(r: ExchangeRecord): Verdict {
  if (!r.phases.includes('untrusted-server')) return inconclusive(`the untrusted-server phase did not run${r.notes.length ? ` (${r.notes.join('; ')})` : ''}.`);
  const sent = acmeRequests(r).filter((q) => q.phase === 'untrusted-server');
  const failures = r.tlsFailures.filter((f) => f.phase === 'untrusted-server').map(classifyTlsFailure);
  if (sent.length) return fail(`with the test CA presenting a certificate from a foreign CA, the client completed the TLS handshake and sent ${sent.length} request(s): ${list(sent.map((q) => `${q.method} ${q.url}`))}.`);
  const alerts = failures.flatMap((f) => (f.kind === 'certificate-alert' ? [`${f.name} (${f.alert})`] : []));
  if (alerts.length) return pass(`with a certificate from a foreign CA the client aborted ${alerts.length} TLS handshake(s) with a certificate alert (${[...new Set(alerts)].join(', ')}) and sent no request.`);
  const hangUps = failures.filter((f) => f.kind === 'hang-up-after-certificate');
  if (hangUps.length) return pass(`with a certificate from a foreign CA the client closed ${hangUps.length} connection(s) without an alert after receiving the server's certificate flight (${hangUps[0].serverBytes} bytes) and sent no request.`);
  if (failures.length) {
    const reasons = [...new Set(failures.map((f) => (f.kind === 'negotiation' ? `negotiation failed before any certificate was judged: ${f.reason}` : 'reason' in f ? f.reason : f.kind)))];
    return inconclusive(`in the untrusted-server phase ${failures.length} TLS handshake(s) failed, but not because the client refused the certificate (${list(reasons)}), so its certificate checking was not shown.`);
  }
  return inconclusive(`in the untrusted-server phase the client opened no connection at all (${commandSummary(r)}), so its certificate checking was not exercised.`);
}

/**
 * ICM-ENR-003: after the injected badNonce, the client repeats the request with a fresh nonce. RFC 8555
 * §6.5 says it SHOULD use the error's Replay-Nonce; one from a new newNonce request is also accepted
 * (certbot 2.x does that), and the evidence says which it was.
 */
export function badNonceRetry(r: ExchangeRecord): Verdict {
  const jws = jwsRequests(r);
  const faulted = jws.find((q) => q.fault === 'badNonce');
  if (!faulted) return inconclusive('the client never reached newOrder, where the kit injects badNonce.');
  const next = jws.find((q) => q.seq > faulted.seq);
  if (!next) return fail(`after badNonce on ${faulted.url} the client sent no further request (it gave up).${lastOutput(r, faulted.invocation)}`);
  if (next.url !== faulted.url) return fail(`after badNonce on ${faulted.url} the client's next request went to ${next.url} instead of retrying.`);
  if (next.jws!.nonce === faulted.jws!.nonce) return fail(`the client retried ${faulted.url} with the same rejected nonce.`);
  if (next.response.problem?.endsWith('badNonce')) return fail(`the client retried ${faulted.url} with a nonce the server did not accept either (${next.jws!.nonce ?? '(none)'}).`);
  const source = next.jws!.nonce === faulted.response.nonce
    ? 'the Replay-Nonce of the error response'
    : (() => {
      const from = r.requests.find((q) => q.seq > faulted.seq && q.response.nonce !== undefined && q.response.nonce === next.jws!.nonce);
      return from ? `a nonce from a later ${from.method} ${from.resource} (RFC 8555 §6.5 recommends the error's Replay-Nonce)` : 'a fresh nonce';
    })();
  return pass(`after badNonce on newOrder the client retried the same request ${s(next.at - faulted.respondedAt)} later with ${source} (answered ${next.response.status}).`);
}

const READS = new Set(['order', 'authorization', 'certificate', 'challenge']);

/** ICM-ENR-004: orders, authorizations, challenges and certificates are read only with POST-as-GET. */
export function postAsGet(r: ExchangeRecord): Verdict {
  const reqs = acmeRequests(r).filter((q) => READS.has(q.resource));
  const gets = reqs.filter((q) => q.method !== 'POST');
  const bodies = reqs.filter((q) => q.method === 'POST' && (q.resource === 'order' || q.resource === 'certificate') && q.jws?.payload !== '');
  if (gets.length || bodies.length) {
    return fail(`reads not made with POST-as-GET (RFC 8555 §6.3): ${list([...gets.map((q) => `${q.method} ${q.url}`), ...bodies.map((q) => `POST with a non-empty payload to ${q.url}`)])}.`);
  }
  const reads = reqs.filter((q) => q.jws?.payload === '');
  if (reads.length === 0) return inconclusive('the client read no order, authorization or certificate.');
  const kinds = [...new Set(reads.map((q) => q.resource))].join(', ');
  return pass(`${reads.length} reads (${kinds}), all POST-as-GET with an empty payload; no GET on these resources.`);
}

const ACCOUNT_KEYS = /^(EC P-256|EC P-384|Ed25519|RSA (\d+))$/;
const ALGS = new Set(['ES256', 'ES384', 'EdDSA', 'RS256']);

/** ICM-ENR-005: allowed account key types and JWS algorithms only. */
export function accountKey(r: ExchangeRecord): Verdict {
  const jws = jwsRequests(r);
  if (jws.length === 0) return inconclusive(`the client sent no JWS request (${commandSummary(r)}).`);
  const badAlg = jws.filter((q) => !ALGS.has(q.jws!.alg));
  const keys = [...new Set(jws.filter((q) => q.resource === 'newAccount' && q.jws!.keyDescription).map((q) => q.jws!.keyDescription!))];
  const badKeys = keys.filter((k) => {
    const m = ACCOUNT_KEYS.exec(k);
    return !m || (m[2] !== undefined && Number(m[2]) < 2048);
  });
  if (badAlg.length) return fail(`JWS alg ${[...new Set(badAlg.map((q) => q.jws!.alg))].join(', ')} used on ${badAlg.length} request(s); allowed: ES256, ES384, EdDSA, RS256.`);
  if (badKeys.length) return fail(`account key ${badKeys.join(', ')} is not ECDSA P-256/P-384, Ed25519 or RSA of at least 2048 bits.`);
  if (keys.length === 0) return inconclusive('no newAccount request carried a usable "jwk", so the account key type is unknown.');
  return pass(`account key ${keys.join(', ')}; JWS alg ${[...new Set(jws.map((q) => q.jws!.alg))].join(', ')} on all ${jws.length} requests.`);
}

/** ICM-ENR-006 (EAB): newAccount carries an HS256 externalAccountBinding for the given kid and URL. */
export function eab(r: ExchangeRecord): Verdict {
  if (!claims(r, 'EAB')) return notApplicable('the client does not claim the EAB option.');
  const newAccounts = jwsRequests(r).filter((q) => q.resource === 'newAccount' && (q.jws!.payload as { onlyReturnExisting?: boolean } | undefined)?.onlyReturnExisting !== true);
  if (newAccounts.length === 0) return inconclusive('the client sent no newAccount request.');
  const good = newAccounts.find((q) => q.jws!.eab?.alg === 'HS256' && q.jws!.eab.kid === r.eabKid && q.jws!.eab.url === q.url);
  if (good) return pass(`newAccount carried externalAccountBinding (alg HS256, kid ${r.eabKid}, url = newAccount URL) and was answered ${good.response.status}.`);
  const seen = newAccounts.map((q) => (q.jws!.eab ? `alg ${q.jws!.eab.alg}, kid ${q.jws!.eab.kid ?? '-'}, url ${q.jws!.eab.url ?? '-'}` : 'no externalAccountBinding'));
  return fail(`newAccount without a correct externalAccountBinding for kid ${r.eabKid}: ${list(seen)}.`);
}

/** ICM-ENR-007: every finalize CSR names exactly its order's identifiers. */
export function csrIdentifiers(r: ExchangeRecord): Verdict {
  const csrs = r.orders.flatMap((o) => o.csrs.map((c) => ({ o, c })));
  if (csrs.length === 0) return inconclusive('the client sent no CSR to finalize.');
  const wrong = csrs.filter(({ o, c }) => {
    if (c.error) return true;
    const want = new Set(o.identifiers.map(idKey));
    const got = new Set(c.identifiers.map(idKey));
    return want.size !== got.size || [...want].some((k) => !got.has(k));
  });
  if (wrong.length) return fail(`CSR(s) not matching their order: ${list(wrong.map(({ o, c }) => (c.error ? `unparsable CSR (${c.error})` : `CSR names ${c.identifiers.map(idKey).join(', ')}, order ${o.identifiers.map(idKey).join(', ')}`)))}.`);
  return pass(`${csrs.length} CSR(s), each naming exactly its order's identifiers (${[...new Set(csrs.flatMap(({ o }) => o.identifiers.map(idKey)))].join(', ')}). That the key was generated on the device is for the assessor.`);
}

/** ICM-ENR-008: the certificate key is ECDSA P-256/P-384 or RSA >= 2048 and not the account key. */
export function csrKey(r: ExchangeRecord): Verdict {
  // A CSR refused for its key is the violation itself; leaving it out would let a client that renews
  // with RSA-1024 pass on its good first CSR.
  const weak = r.orders.flatMap((o) => o.csrs.map((c) => ({ o, c }))).filter(({ c }) => c.keyRejected);
  if (weak.length) return fail(`${weak.length} CSR(s) with a key the profile does not allow: ${list(weak.map(({ o, c }) => `${o.phase} order: ${c.error}`))}.`);
  const csrs = r.orders.flatMap((o) => o.csrs).filter((c) => !c.error);
  if (csrs.length === 0) return inconclusive('the client sent no parsable CSR.');
  const accountKeys = new Set(jwsRequests(r).map((q) => q.jws!.jwkSpkiSha256).filter(Boolean));
  const reused = csrs.filter((c) => accountKeys.has(c.spkiSha256));
  if (reused.length) return fail(`${reused.length} CSR(s) carry the account key itself (RFC 8555 §11.1).`);
  // parseCsr accepts only ECDSA P-256/P-384 and RSA 2048/3072/4096; anything else has `error` set.
  return pass(`CSR key type(s) ${[...new Set(csrs.map((c) => c.keyType))].join(', ')}, distinct from the account key.`);
}

const POLLED = new Set(['order', 'finalize', 'authorization', 'challenge']);

/** ICM-ENR-009: after a Retry-After on an order or authorization, the next request for it waits that long. */
export function retryAfter(r: ExchangeRecord): Verdict {
  const reqs = acmeRequests(r);
  const judged: Array<{ q: RecordedRequest; next: RecordedRequest; waited: number }> = [];
  for (const q of reqs) {
    if (!POLLED.has(q.resource) || q.response.retryAfter === undefined || q.response.status >= 400 || !q.group) continue;
    // Only a poll (POST-as-GET) is bound by the interval; an action (answering a challenge, finalizing)
    // starts something new, and its own response says when to look again.
    const next = reqs.find((n) => n.seq > q.seq && n.group === q.group && n.invocation === q.invocation);
    if (next && next.jws?.payload === '') judged.push({ q, next, waited: next.at - q.respondedAt });
  }
  if (judged.length === 0) return inconclusive('no order or authorization answered with Retry-After was polled again.');
  const early = judged.filter((j) => j.waited < j.q.response.retryAfter! * 1000 - TIMING_SLACK_MS);
  if (early.length) return fail(`${early.length} of ${judged.length} follow-up requests came early: ${list(early.map((j) => `${j.q.resource} said Retry-After ${j.q.response.retryAfter} s, next ${j.next.resource} request after ${s(j.waited)}`))}.`);
  return pass(`${judged.length} follow-up request(s) after Retry-After, each waiting at least the interval (${list(judged.map((j) => `${j.q.resource}: ${j.q.response.retryAfter} s asked, ${s(j.waited)} waited`))}).`);
}

/** ICM-ENR-010: after orderNotReady, read the order, and finalize again once it reads ready. */
export function orderNotReady(r: ExchangeRecord): Verdict {
  const jws = jwsRequests(r);
  const faulted = jws.find((q) => q.fault === 'orderNotReady');
  if (!faulted) return inconclusive(`the kit's orderNotReady fault was not reached${r.phases.includes('order-not-ready') ? ' (the client did not finalize in that phase)' : ' (the order-not-ready phase did not run)'}.`);
  const after = jws.filter((q) => q.seq > faulted.seq && q.group === faulted.group && q.invocation === faulted.invocation);
  const refinalize = after.find((q) => q.resource === 'finalize');
  const readReady = after.find((q) => q.resource === 'order' && q.jws!.payload === '' && q.response.resourceStatus === 'ready' && (!refinalize || q.seq < refinalize.seq));
  if (!refinalize) return fail(`after orderNotReady the client ${after.length ? `read the order ${after.filter((q) => q.resource === 'order').length} time(s) but ` : ''}never finalized again (it gave up).${lastOutput(r, faulted.invocation)}`);
  if (!readReady) return fail(`after orderNotReady the client finalized again ${s(refinalize.at - faulted.respondedAt)} later without first reading the order and seeing it ready.`);
  return pass(`after orderNotReady the client read the order (status ready) and finalized again, answered ${refinalize.response.status}.`);
}

function challengeOption(r: ExchangeRecord, type: 'http-01' | 'tls-alpn-01' | 'dns-01', extra = ''): Verdict {
  if (!claims(r, type)) return notApplicable(`the client does not claim the ${type} option.`);
  const all = r.orders.flatMap((o) => o.authorizations.flatMap((a) => a.challenges.filter((c) => c.type === type).map((c) => ({ a, c }))));
  const valid = all.filter(({ c }) => c.status === 'valid');
  if (valid.length) return pass(`${valid.length} ${type} validation(s) succeeded (${list([...new Set(valid.map(({ a }) => a.identifier.value))])})${extra}.`);
  const tried = all.filter(({ c }) => c.status !== 'pending');
  if (tried.length) return fail(`${type} was answered but never validated: ${list(tried.map(({ a, c }) => `${a.identifier.value}: ${c.status}${c.error ? ` (${c.error})` : ''}`))}.`);
  if (r.orders.length === 0) return inconclusive(`the client created no order (${commandSummary(r)}).`);
  return fail(`the client claims ${type} but answered no ${type} challenge in ${r.orders.length} order(s).`);
}

/** ICM-ENR-011 (http-01). */
export function http01(r: ExchangeRecord): Verdict {
  return challengeOption(r, 'http-01', ' on the port the CA validates');
}

/** ICM-ENR-012 (tls-alpn-01): the CA verified acme-tls/1 and the critical acmeIdentifier extension (RFC 8737 §3). */
export function tlsAlpn01(r: ExchangeRecord): Verdict {
  return challengeOption(r, 'tls-alpn-01', '; the CA checked ALPN acme-tls/1 and the critical acmeIdentifier extension');
}

/** ICM-ENR-013 (dns-01): the CA found the TXT record when the client answered the challenge. */
export function dns01(r: ExchangeRecord): Verdict {
  return challengeOption(r, 'dns-01', '; the TXT record was resolvable when the client answered the challenge');
}

/** ICM-ENR-014 (IP identifiers): "ip" identifiers in RFC 8738 textual form, never dns-01 for them. */
export function ipIdentifier(r: ExchangeRecord): Verdict {
  if (!claims(r, 'IP identifiers')) return notApplicable('the client does not claim the IP identifiers option.');
  const requested = r.orders.flatMap((o) => o.requestedIdentifiers);
  const ipsAsDns = requested.filter((i) => i.type === 'dns' && /^[\d.]+$|:/.test(i.value));
  const ips = requested.filter((i) => i.type === 'ip');
  const bad = ips.filter((i) => !isCanonicalIp(i.value));
  const dns01ForIp = r.orders.flatMap((o) => o.authorizations.filter((a) => a.identifier.type === 'ip' && a.challenges.some((c) => c.type === 'dns-01' && c.status !== 'pending')));
  if (ipsAsDns.length) return fail(`IP addresses ordered as "dns" identifiers: ${list(ipsAsDns.map((i) => i.value))} (RFC 8738 §3 requires type "ip").`);
  if (bad.length) return fail(`"ip" identifiers not in RFC 8738 textual form: ${list(bad.map((i) => i.value))}.`);
  if (dns01ForIp.length) return fail('dns-01 was answered for an IP identifier (RFC 8738 §7 forbids it).');
  // A client that crashed or hung before its first newOrder showed nothing about its identifiers.
  if (r.orders.length === 0) return inconclusive(`the client created no order (${commandSummary(r)}).`);
  if (ips.length === 0) return fail(`the client claims IP identifiers but ordered none (${requested.map(idKey).join(', ')}).`);
  return pass(`${ips.length} "ip" identifier(s) in canonical form (${list([...new Set(ips.map((i) => i.value))])}); no dns-01 answered for them.`);
}

const BACKOFF_MS = 60_000;

/**
 * ICM-ENR-016: after a failed attempt (an order gone invalid, or an error answer the kit did not inject),
 * a new attempt for the same names from the same run of the client comes no sooner than 60 s. Re-runs
 * by the kit (its stand-in for a scheduler) are not the client's retries.
 */
export function backoff(r: ExchangeRecord): Verdict {
  const jws = jwsRequests(r);
  const failures = jws.filter((q) => q.response.status >= 400 && !q.fault && q.response.problem !== 'urn:ietf:params:acme:error:badNonce'
    && ['newOrder', 'finalize', 'challenge'].includes(q.resource));
  const invalidOrders = r.orders.filter((o) => o.status === 'invalid');
  const events = [
    ...failures.map((q) => ({ at: q.respondedAt, invocation: q.invocation, what: `${q.resource} answered ${q.response.problem ?? q.response.status}` })),
    ...invalidOrders.map((o) => ({ at: o.at, invocation: jws.find((q) => q.response.location === o.url)?.invocation ?? -1, what: `order ${o.id} became invalid` })),
  ];
  if (events.length === 0) return inconclusive('no attempt failed in this run (the kit injects only errors with a defined recovery), so there was nothing to back off from.');
  const tight = events.flatMap((e) => {
    const next = jws.find((q) => q.resource === 'newOrder' && q.at > e.at && q.invocation === e.invocation && q.at - e.at < BACKOFF_MS);
    return next ? [`${e.what}, then a new order after ${s(next.at - e.at)}`] : [];
  });
  if (tight.length) return fail(`the client retried without backing off: ${list(tight)}.`);
  return inconclusive(`after ${list(events.map((e) => e.what))} the client did not retry within its run; the interval between runs is set by whatever schedules the client, which the assessor checks.`);
}
