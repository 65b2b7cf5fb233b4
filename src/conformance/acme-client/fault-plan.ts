/**
 * What the kit's test CA does on purpose, deterministically, so that a client's error handling shows in
 * the record. Every fault is one a conforming server may legitimately produce:
 * - badNonce on the first newOrder (RFC 8555 §6.5: servers may reject any nonce; pebble does at random);
 * - an authorization that stays pending, and a finalized order that stays `processing`, for
 *   `processingSeconds`, each answered with Retry-After (§7.5.1, §7.4);
 * - orderNotReady on the first finalize of the order-not-ready phase (§7.4: a concurrent change of the
 *   order; "the client should then send a POST-as-GET request to the order resource");
 * - an ARI window (RFC 9773 §4.2) for the first certificate that lies in the future and is pulled
 *   forward `ari.pullAfter` seconds after issuance, with a short Retry-After so the change can be seen.
 * Certificates live `lifetime` (plus the CA's 5-minute backdating), so a renewal run always finds them
 * in the last third of their lifetime.
 */
export interface FaultPlan {
  /** Certificate lifetime in the kit's profile (`Nm` or `Nh`, see profiles/cert/). */
  lifetime: string;
  badNonceOnFirstNewOrder: boolean;
  /** 0 disables the pending/processing faults. */
  processingSeconds: number;
  orderNotReadyPhase: boolean;
  ari: {
    /** Retry-After of renewalInfo responses (seconds). */
    retryAfterSeconds: number;
    /** First window, relative to issuance of the first certificate (seconds). */
    initial: { start: number; end: number };
    /** When the window is pulled forward, relative to issuance (seconds); from then on it is [pull, pull + length]. */
    pullAfter: number;
    length: number;
  };
  /** How often the renew command is re-run while no renewal happened (seconds), and for how long. */
  renewEverySeconds: number;
  renewForSeconds: number;
}

export const DEFAULT_FAULT_PLAN: FaultPlan = {
  lifetime: '1m',
  badNonceOnFirstNewOrder: true,
  processingSeconds: 2,
  orderNotReadyPhase: true,
  ari: { retryAfterSeconds: 2, initial: { start: 40, end: 50 }, pullAfter: 6, length: 15 },
  renewEverySeconds: 2.5,
  renewForSeconds: 24,
};

/** The window the kit serves for a certificate at `now`: the first certificate's moves, later ones are open. */
export function windowAt(plan: FaultPlan, cert: { issuedAt: number; notAfterMs: number; first: boolean }, now: number): { start: number; end: number } {
  if (!cert.first) return { start: cert.issuedAt, end: cert.notAfterMs };
  const pull = cert.issuedAt + plan.ari.pullAfter * 1000;
  if (now < pull) return { start: cert.issuedAt + plan.ari.initial.start * 1000, end: cert.issuedAt + plan.ari.initial.end * 1000 };
  return { start: pull, end: pull + plan.ari.length * 1000 };
}
