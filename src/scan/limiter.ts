/**
 * The two limits that keep a scan gentle: a global connection rate (token bucket, connections per
 * second across all hosts) and a per-host concurrency cap (default 1: a device never sees two scanner
 * connections at once). Both are FIFO, so no waiter starves.
 */

export class RateLimiter {
  private readonly intervalMs: number;
  private next = 0;
  private queue: Promise<void> = Promise.resolve();
  /** Monotonic start times (ms) of every granted slot, for tests and the report. */
  readonly granted: number[] = [];

  constructor(readonly perSecond: number) {
    this.intervalMs = 1000 / perSecond;
  }

  /**
   * Resolves when a new connection may start. Two rules, both on actual grant times: slots are
   * spaced evenly (no burst at a device), and the N-th previous grant must lie at least one second
   * (+1 %, for the listener's clock and scheduling jitter) in the past, so no one-second window ever
   * holds more than N starts, whatever the timers do.
   */
  take(): Promise<void> {
    const turn = this.queue.then(() => this.wait());
    this.queue = turn;
    return turn;
  }

  private async wait(): Promise<void> {
    const n = Math.max(1, Math.floor(this.perSecond));
    for (;;) {
      const now = performance.now();
      const windowStart = this.granted.length >= n ? this.granted[this.granted.length - n] + 1010 : 0;
      const at = Math.max(this.next, windowStart);
      if (at <= now) {
        this.granted.push(now);
        this.next = now + this.intervalMs;
        return;
      }
      await sleep(at - now);
    }
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Counting semaphore. */
export class Semaphore {
  private active = 0;
  private waiters: Array<() => void> = [];

  constructor(readonly limit: number) {}

  async acquire(): Promise<() => void> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiters.push(resolve));
    else this.active++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      if (next) next();
      else this.active--;
    };
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire();
    try {
      return await fn();
    } finally {
      release();
    }
  }
}
