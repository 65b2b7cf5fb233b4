/**
 * When to renew (after certmagic's policy, as DESIGN.md asks): inside the CA's ACME Renewal
 * Information window when it offers one (RFC 9773 §4.2: a uniformly random time in the window), else
 * once a third of the lifetime is left.
 */
export interface Window {
  start: Date;
  end: Date;
}

export function renewalTime(notBefore: Date, notAfter: Date, ari?: Window, random: () => number = Math.random): Date {
  const lifetime = notAfter.getTime() - notBefore.getTime();
  // Found in review: the CA's window was taken as given. One ending after the certificate expires would
  // renew too late (it is ignored), and one in the past on every fresh certificate, from a broken or
  // hostile CA, renewed once a second; RFC 9773 §4.2's "renew now" still holds for a certificate past
  // its first hour (or tenth of its life): what `wardgate renew-early` does to existing certificates.
  const earliest = notBefore.getTime() + Math.min(lifetime / 10, 3_600_000);
  if (ari && ari.end.getTime() > ari.start.getTime() && ari.end.getTime() <= notAfter.getTime()) {
    const at = ari.start.getTime() + random() * (ari.end.getTime() - ari.start.getTime());
    return new Date(Math.max(at, earliest));
  }
  return new Date(notAfter.getTime() - lifetime / 3);
}

/** Retry ladder after a failed attempt: 1 min doubling to 1 h, with ±20% jitter so fleets spread out. */
export function retryDelayMs(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(60 * 60_000, 60_000 * 2 ** Math.max(0, attempt));
  return Math.round(base * (0.8 + 0.4 * random()));
}

/** Default time between renewal-information checks when the CA gives no Retry-After. */
export const ARI_DEFAULT_POLL_MS = 6 * 3_600_000;

/**
 * When to ask the CA for renewal information again: its Retry-After, held between a minute and a day
 * (RFC 9773 §4.3.2 suggests these limits), so a hostile CA can neither make us poll it in a loop nor go
 * silent for months while `wardgate renew-early` waits for us.
 */
export function nextAriCheckMs(retryAfterMs: number | undefined, minMs = 60_000): number {
  return Math.min(86_400_000, Math.max(minMs, retryAfterMs ?? ARI_DEFAULT_POLL_MS));
}

export function sameWindow(a: Window | undefined, b: Window | undefined): boolean {
  return a?.start.getTime() === b?.start.getTime() && a?.end.getTime() === b?.end.getTime();
}
