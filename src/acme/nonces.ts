import { randomBytes } from 'node:crypto';

/** 128 bits: unguessable (RFC 8555 §6.5 asks only for uniqueness; §10.2 for unpredictability). */
const NONCE_BYTES = 16;

/**
 * RFC 8555 §7.2 / §6.5 anti-replay nonces: random, single use, bounded in number and age. Kept in
 * memory: after a restart every outstanding nonce is refused with badNonce, which clients retry (§6.5).
 */
export class NonceStore {
  private readonly live = new Map<string, number>();

  constructor(private readonly maxLive = 200_000, private readonly ttlMs = 30 * 60_000) {}

  /** Random bytes drawn in blocks: one CSPRNG call per 256 nonces instead of one per response. */
  private pool = Buffer.alloc(0);
  private poolAt = 0;

  issue(): string {
    if (this.poolAt + NONCE_BYTES > this.pool.length) {
      this.pool = randomBytes(NONCE_BYTES * 256);
      this.poolAt = 0;
    }
    const nonce = this.pool.toString('base64url', this.poolAt, (this.poolAt += NONCE_BYTES));
    this.live.set(nonce, Date.now() + this.ttlMs);
    if (this.live.size > this.maxLive) {
      // Map iterates in insertion order: drop the oldest.
      const oldest = this.live.keys().next().value;
      if (oldest !== undefined) this.live.delete(oldest);
    }
    return nonce;
  }

  /** True exactly once per issued, unexpired nonce. */
  consume(nonce: string): boolean {
    const expires = this.live.get(nonce);
    if (expires === undefined) return false;
    this.live.delete(nonce);
    return expires > Date.now();
  }
}
