export interface DistributionOptions {
  /** Validity of each CRL (nextUpdate - thisUpdate), in hours. Default 24. */
  crlValidityHours?: number;
  /**
   * How long a signed CRL is served again before a fresh one is signed, when no certificate of that
   * issuer was revoked meanwhile (a revocation always produces a new CRL at the next request). Default 5 min.
   */
  crlCacheMs?: number;
  /** OCSP nextUpdate - thisUpdate. Default 1 hour; a signed answer is reused for the first half of it. */
  ocspValidityMs?: number;
  /** Signed OCSP answers kept for reuse (least recently used dropped first). Default 10,000. */
  ocspCacheEntries?: number;
  /**
   * Requests per client address per second on this listener, all paths (IPv6 clients count per /64, like
   * the ACME listener's limit). Over it: 429 with Retry-After, or for OCSP an RFC 6960 `tryLater`
   * response. Default 50; 0 turns the limit off.
   */
  requestsPerAddressPerSecond?: number;
  /**
   * OCSP signatures per client address per second: requests with a nonce (signed for that request) and
   * queries not in the cache. Over it a nonce is ignored and the cached answer served; with nothing
   * cached the answer is `tryLater`. Default 10; 0 turns the limit off.
   */
  ocspSignaturesPerAddressPerSecond?: number;
  /**
   * OCSP signatures per second, all clients together, for queries naming a serial the issuer never issued
   * (random serials cost a signature each, since the answer echoes the CertID). Such answers are kept apart
   * (at most 1,000), so they never push answers for real certificates out of the cache. Over the budget the
   * answer is an unsigned `unauthorized` (RFC 5019 §2.2.3). Default 5; 0 turns the limit off.
   */
  ocspUnknownSignaturesPerSecond?: number;
  /** Injected clock for tests. */
  now?: () => number;
}

export const DISTRIBUTION_DEFAULTS = {
  crlValidityHours: 24, crlCacheMs: 5 * 60_000, ocspValidityMs: 3_600_000, ocspCacheEntries: 10_000,
  requestsPerAddressPerSecond: 50, ocspSignaturesPerAddressPerSecond: 10, ocspUnknownSignaturesPerSecond: 5, ocspUnknownCacheEntries: 1_000,
} as const;

/** Issuer ids as the key store names them (`ecdsa-1`, `rsa-2`); anything else is not a file of ours. */
export const ISSUER_ID = /^[a-z0-9][a-z0-9-]{0,63}$/;
