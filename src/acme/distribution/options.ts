export interface DistributionOptions {
  /** Validity of each CRL (nextUpdate - thisUpdate), in hours. Default 24. */
  crlValidityHours?: number;
  /**
   * How long a signed CRL is served again before a fresh one is signed, when no certificate of that
   * issuer was revoked meanwhile (a revocation always produces a new CRL at the next request). Default 5 min.
   */
  crlCacheMs?: number;
  /** OCSP nextUpdate - thisUpdate. Default 1 hour. */
  ocspValidityMs?: number;
  /** Injected clock for tests. */
  now?: () => number;
}

export const DISTRIBUTION_DEFAULTS = { crlValidityHours: 24, crlCacheMs: 5 * 60_000, ocspValidityMs: 3_600_000 } as const;

/** Issuer ids as the key store names them (`ecdsa-1`, `rsa-2`); anything else is not a file of ours. */
export const ISSUER_ID = /^[a-z0-9][a-z0-9-]{0,63}$/;
