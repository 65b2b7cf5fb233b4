import type { Verdict } from '../verdict.ts';
import type { ExchangeRecord } from './exchange.ts';

/**
 * Judging rules of `wardgate conformance acme-client`, keyed by check name. PENDING: the kit needs
 * the wardgate ACME server (src/acme/) as its test CA; until it exists every judge returns undefined
 * ("no verdict") and the requirements are reported as pending, not as manual. Each description states
 * the rule the judge will apply to the ExchangeRecord.
 */
export interface AcmeClientCheck {
  description: string;
  /** Option that must be claimed for the requirement to apply; otherwise the verdict is not-applicable. */
  option?: string;
  judge: (record: ExchangeRecord) => Verdict | undefined;
}

const pending = (): Verdict | undefined => undefined;

function check(description: string, option?: string): AcmeClientCheck {
  return { description, ...(option ? { option } : {}), judge: pending };
}

export const ACME_CLIENT_CHECKS: Record<string, AcmeClientCheck> = {
  'acme-client:challenge-support': check('at least one validation of http-01, tls-alpn-01 or dns-01 succeeded'),
  'acme-client:directory-discovery': check('every request URL other than the directory was discovered (directory, Location, Link, resource fields) before use; the kit serves non-default paths, as pebble does, to expose hard-coded ones'),
  'acme-client:server-authentication': check('in a second phase the test CA presents a certificate from an untrusted CA (fault untrustedServerCertificate); the client must send no JWS request afterwards'),
  'acme-client:bad-nonce-retry': check('after an injected badNonce the next request repeats the same resource with the Replay-Nonce of the error response'),
  'acme-client:post-as-get': check('orders, authorizations and certificates are only read with POST and an empty payload (§6.3); no GET on them'),
  'acme-client:account-key': check('every outer JWS alg is ES256, ES384, EdDSA or RS256, and the account key is EC P-256/P-384, Ed25519 or RSA ≥ 2048'),
  'acme-client:eab': check('newAccount carries externalAccountBinding with alg HS256, the given kid, and url = newAccount URL', 'EAB'),
  'acme-client:csr-identifiers': check('each finalize CSR names exactly the identifiers of its order (SAN dNSName/iPAddress, no extra, none missing)'),
  'acme-client:csr-key': check('each CSR key is EC P-256/P-384 or RSA ≥ 2048 and its SPKI differs from the account key'),
  'acme-client:retry-after': check('after a response with Retry-After (injected on order polling and authorization), the next request for that resource comes no earlier than the interval'),
  'acme-client:order-not-ready': check('after an injected orderNotReady on finalize, the client reads the order and finalizes again only after it reported ready'),
  'acme-client:http-01': check('an http-01 validation for each claimed identifier succeeded on port 80 (the kit\'s --http01-port)', 'http-01'),
  'acme-client:tls-alpn-01': check('a tls-alpn-01 validation succeeded (acme-tls/1 with the critical acmeIdentifier extension)', 'tls-alpn-01'),
  'acme-client:dns-01': check('a dns-01 validation succeeded against the kit\'s DNS server, and the challenge was answered only after the TXT record was resolvable', 'dns-01'),
  'acme-client:ip-identifier': check('orders contain "ip" identifiers in RFC 8738 textual form, and no dns-01 challenge was answered for them', 'IP identifiers'),
  'acme-client:backoff': check('after a failed validation or an error response, the next attempt for that order comes at least 60 s later (kit clock accelerated), with growing intervals'),
  'acme-client:renewal-timing': check('without ARI, with a short-lived certificate, a renewal order arrives before two thirds of its lifetime have passed'),
  'acme-client:new-key-on-renewal': check('the renewal CSR SPKI differs from every earlier certificate\'s SPKI'),
  'acme-client:ari-fetch': check('renewalInfo GET requests use the certID of RFC 9773 §4.1 for an issued certificate, unauthenticated', 'ARI'),
  'acme-client:ari-window': check('the renewal order comes inside the served suggestedWindow, none before its start (a client that claims ARI but renews early or late fails)', 'ARI'),
  'acme-client:ari-retry-after': check('renewalInfo is fetched again after its Retry-After, and a window pulled forward (fault ariWindow) is followed', 'ARI'),
  'acme-client:ari-replaces': check('the renewal newOrder carries replaces = certID of the replaced certificate', 'ARI'),
  'acme-client:trust-anchor-refresh': check('the client fetches /.well-known/est/cacerts (or the PEM anchors) at each renewal'),
};

/** Judges every acme-client check on a record; checks with no verdict yet are left out of the map. */
export function judgeExchange(record: ExchangeRecord): Map<string, Verdict> {
  const verdicts = new Map<string, Verdict>();
  for (const [name, c] of Object.entries(ACME_CLIENT_CHECKS)) {
    const v = c.judge(record);
    if (v) verdicts.set(name, v);
  }
  return verdicts;
}
