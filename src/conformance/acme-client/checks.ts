import type { Verdict } from '../verdict.ts';
import { accountKey, backoff, badNonceRetry, challengeSupport, csrIdentifiers, csrKey, directoryDiscovery, dns01, eab, http01, ipIdentifier, orderNotReady, postAsGet, retryAfter, serverAuthentication, tlsAlpn01 } from './checks-enroll.ts';
import { ariFetch, ariReplaces, ariRetryAfter, ariWindow, newKeyOnRenewal, renewalTiming, trustAnchorRefresh } from './checks-renew.ts';
import type { ExchangeRecord } from './exchange.ts';

/** ICM options an Enrolling Node can claim (docs/ihe-profile/volume-1.md); `--claim` takes these names. */
export const ACME_CLIENT_OPTIONS = ['http-01', 'tls-alpn-01', 'dns-01', 'EAB', 'ARI', 'IP identifiers'] as const;

/**
 * Judging rules of `wardgate conformance acme-client`, keyed by the check name requirements.json uses.
 * Each description states the rule; `option` names the claim without which the verdict is
 * not-applicable. Judges are pure functions of the ExchangeRecord (checks-enroll.ts, checks-renew.ts).
 */
export interface AcmeClientCheck {
  description: string;
  option?: (typeof ACME_CLIENT_OPTIONS)[number];
  judge: (record: ExchangeRecord) => Verdict;
}

export const ACME_CLIENT_CHECKS: Record<string, AcmeClientCheck> = {
  'acme-client:challenge-support': { description: 'at least one validation of http-01, tls-alpn-01 or dns-01 succeeded', judge: challengeSupport },
  'acme-client:directory-discovery': { description: 'every request URL other than the directory was revealed by an earlier response (directory, Location, Link, resource fields); the kit serves everything under a random path prefix to expose hard-coded paths', judge: directoryDiscovery },
  'acme-client:server-authentication': { description: 'in the untrusted-server phase the test CA presents a certificate from a foreign CA; the client must send no request and refuse the certificate: a certificate alert (42-46, 48) or closing the connection after the server\'s certificate flight; a failed negotiation (no shared cipher, version, plain HTTP) or a hang-up before it is inconclusive', judge: serverAuthentication },
  'acme-client:bad-nonce-retry': { description: 'after the injected badNonce on the first newOrder, the next request repeats it with the Replay-Nonce of the error response', judge: badNonceRetry },
  'acme-client:post-as-get': { description: 'orders, authorizations, challenges and certificates are only read with POST and an empty payload (§6.3); no GET on them', judge: postAsGet },
  'acme-client:account-key': { description: 'every outer JWS alg is ES256, ES384, EdDSA or RS256, and the account key is EC P-256/P-384, Ed25519 or RSA >= 2048', judge: accountKey },
  'acme-client:eab': { description: 'newAccount carries externalAccountBinding with alg HS256, the kid the kit issued, and url = newAccount URL', option: 'EAB', judge: eab },
  'acme-client:csr-identifiers': { description: 'each finalize CSR names exactly the identifiers of its order (SAN dNSName/iPAddress, no extra, none missing)', judge: csrIdentifiers },
  'acme-client:csr-key': { description: 'each CSR key is EC P-256/P-384 or RSA >= 2048 and differs from the account key', judge: csrKey },
  'acme-client:retry-after': { description: 'after a response with Retry-After on an order or authorization (the kit keeps one pending and one processing), the next request for it comes no earlier than the interval', judge: retryAfter },
  'acme-client:order-not-ready': { description: 'after the injected orderNotReady on finalize (order-not-ready phase), the client reads the order and finalizes again only after it reported ready', judge: orderNotReady },
  'acme-client:http-01': { description: 'an http-01 validation succeeded on the kit\'s http-01 port', option: 'http-01', judge: http01 },
  'acme-client:tls-alpn-01': { description: 'a tls-alpn-01 validation succeeded (acme-tls/1 with the critical acmeIdentifier extension)', option: 'tls-alpn-01', judge: tlsAlpn01 },
  'acme-client:dns-01': { description: 'a dns-01 validation succeeded against the kit\'s DNS server (the TXT record was resolvable when the challenge was answered)', option: 'dns-01', judge: dns01 },
  'acme-client:ip-identifier': { description: 'orders contain "ip" identifiers in RFC 8738 textual form (no IP addresses as "dns"), and no dns-01 challenge was answered for them', option: 'IP identifiers', judge: ipIdentifier },
  'acme-client:backoff': { description: 'after a failed attempt, a new order for the same names from the same run of the client comes no sooner than 60 s (fail); no failure, or no retry within the run, is inconclusive', judge: backoff },
  'acme-client:renewal-timing': { description: 'without ARI: run while a third or less of its certificate\'s lifetime is left (kit certificates are short-lived), the client obtains a new certificate in that run (an order that fails does not count)', judge: renewalTiming },
  'acme-client:new-key-on-renewal': { description: 'every renewal CSR has a SubjectPublicKeyInfo no earlier certificate for those names had', judge: newKeyOnRenewal },
  'acme-client:ari-fetch': { description: 'renewalInfo is fetched with an unauthenticated GET on the RFC 9773 §4.1 certID of an issued certificate', option: 'ARI', judge: ariFetch },
  'acme-client:ari-window': { description: 'every renewal order comes inside the suggestedWindow in effect for the certificate it replaces (the first window lies in the future); one before its start, one after its end by a client that ran while it was open, or none after the first window closed, fails', option: 'ARI', judge: ariWindow },
  'acme-client:ari-retry-after': { description: 'renewalInfo is fetched again after its Retry-After, so the window pulled forward a few seconds after issuance is seen before renewing; a fetch within one run before Retry-After elapsed (10 % allowance) is remarked (RFC 9773 §4.3.2 SHOULD)', option: 'ARI', judge: ariRetryAfter },
  'acme-client:ari-replaces': { description: 'every renewal newOrder carries replaces = certID of the certificate it replaces', option: 'ARI', judge: ariReplaces },
  'acme-client:trust-anchor-refresh': { description: 'every run of the client that renewed also fetched /.well-known/est/cacerts or /ca/root.pem from the distribution listener', judge: trustAnchorRefresh },
};

/** Judges every acme-client check on a record. */
export function judgeExchange(record: ExchangeRecord): Map<string, Verdict> {
  return new Map(Object.entries(ACME_CLIENT_CHECKS).map(([name, c]) => [name, c.judge(record)]));
}
