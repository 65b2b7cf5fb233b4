/**
 * Token buckets keyed by account or client address. In memory: limits protect the CA from a runaway
 * device, they are not an accounting record.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  /** `capacity` requests per `windowMs`, refilled continuously. */
  constructor(private readonly capacity: number, private readonly windowMs: number, private readonly maxKeys = 100_000) {}

  /** Returns 0 when the request may go ahead, else the seconds until it may be retried. */
  take(key: string, now = Date.now()): number {
    const rate = this.capacity / this.windowMs;
    const b = this.buckets.get(key) ?? { tokens: this.capacity, at: now };
    b.tokens = Math.min(this.capacity, b.tokens + (now - b.at) * rate);
    b.at = now;
    this.buckets.delete(key);
    this.buckets.set(key, b);
    if (this.buckets.size > this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / rate / 1000));
  }
}
