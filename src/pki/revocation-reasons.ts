import { WardgateError } from '../errors.ts';

/** RFC 5280 §5.3.1 CRLReason values that a CA may assert (7 is unused; removeFromCRL is for delta CRLs). */
export const REVOCATION_REASONS: Record<string, number> = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  privilegeWithdrawn: 9,
  aACompromise: 10,
};

export function parseRevocationReason(text: string | number | undefined): number {
  if (text === undefined) return 0;
  if (typeof text === 'number' || /^\d+$/.test(text)) {
    const n = Number(text);
    if (Object.values(REVOCATION_REASONS).includes(n)) return n;
  } else {
    const key = Object.keys(REVOCATION_REASONS).find((k) => k.toLowerCase() === text.toLowerCase().replace(/[-_]/g, ''));
    if (key) return REVOCATION_REASONS[key];
  }
  throw new WardgateError('REVOCATION_REASON_INVALID',
    `revocation reason "${text}" is not one of ${Object.keys(REVOCATION_REASONS).join(', ')} (RFC 5280 §5.3.1)`);
}

export function reasonName(code: number): string {
  return Object.keys(REVOCATION_REASONS).find((k) => REVOCATION_REASONS[k] === code) ?? String(code);
}
