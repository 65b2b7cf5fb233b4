import { WardgateError } from '../errors.ts';

/** Running and waiting validations, for tests and whoever reports on the server's load. */
export interface ValidationSlotStats { running: number; queued: number; maxRunning: number; maxQueued: number }

type Job = (signal: AbortSignal) => Promise<void>;

/**
 * Bounds how many challenge validations connect out at once (RFC 8555 §10.3, §10.4: validation must not
 * let clients turn the CA into a tool for flooding or probing the network it validates in). At most `maxRunning` jobs run; later ones
 * wait in FIFO order, at most `maxQueued` of them.
 *
 * Admission is the caller's: check hasRoom() and enqueue with run() in the same synchronous turn (the
 * challenge handler does, around its compare-and-swap), so the bound cannot be overshot between the two.
 * run() itself never refuses: start-up recovery re-runs challenges the server already accepted and owes
 * a verdict for, even when there are more of them than the queue admits.
 *
 * close() abandons waiting jobs (their run() resolves without running them) and aborts running ones
 * through the signal each job gets: shutdown does not wait for slow peers. Abandoned challenges stay
 * `processing` and are validated again at the next start (resumeProcessingChallenges).
 */
export class ValidationSlots {
  private running = 0;
  /** Validations running or waiting per owner key (an account, a client address), for the per-owner cap. */
  private readonly owned = new Map<string, number>();
  private closed = false;
  /** Waiters in arrival order; called with true when their turn comes, false when abandoned. */
  private readonly waiting: Array<(start: boolean) => void> = [];
  /** One controller per running job (not one shared signal: hundreds of listeners on it would leak-warn). */
  private readonly active = new Set<AbortController>();

  /**
   * `maxPerOwner`: validations one owner may have running or waiting at once (0: no cap). Without it one
   * client with many accounts, or one account with many identifiers, fills the queue and every other
   * device's challenge POST is refused until it drains.
   */
  constructor(readonly maxRunning: number, readonly maxQueued: number, readonly maxPerOwner = 0) {
    if (!Number.isInteger(maxRunning) || maxRunning < 1) throw new WardgateError('CLI_ARGUMENT', `max concurrent validations must be a whole number >= 1, got ${maxRunning}`);
    if (!Number.isInteger(maxQueued) || maxQueued < 0) throw new WardgateError('CLI_ARGUMENT', `validation queue length must be a whole number >= 0, got ${maxQueued}`);
  }

  /** True when a job enqueued now would run at once or find a place in the queue. */
  hasRoom(): boolean {
    return this.running < this.maxRunning || this.waiting.length < this.maxQueued;
  }

  /** The first of `owners` that already has `maxPerOwner` validations running or waiting, if any. */
  ownerAtCap(owners: readonly string[]): string | undefined {
    if (this.maxPerOwner <= 0) return undefined;
    return owners.find((o) => (this.owned.get(o) ?? 0) >= this.maxPerOwner);
  }

  /** Counts `job` against each of `owners` until it ends (ownerAtCap); then runs it like run(). */
  async runOwned(owners: readonly string[], job: Job): Promise<void> {
    for (const o of owners) this.owned.set(o, (this.owned.get(o) ?? 0) + 1);
    try {
      await this.run(job);
    } finally {
      for (const o of owners) {
        const n = (this.owned.get(o) ?? 1) - 1;
        if (n > 0) this.owned.set(o, n);
        else this.owned.delete(o);
      }
    }
  }

  /**
   * Runs `job` once a slot is free. Settles as the job does; resolves without running it when the slots
   * are closed before its turn came.
   */
  async run(job: Job): Promise<void> {
    if (this.closed) return;
    if (this.running < this.maxRunning) {
      this.running++;
    } else {
      // When this resolves true, the finishing job has handed its slot over (see release()).
      if (!await new Promise<boolean>((resolve) => this.waiting.push(resolve))) return;
      // Handed a slot in the same turn as close() was called: give it back unused.
      if (this.closed) { this.release(); return; }
    }
    const controller = new AbortController();
    this.active.add(controller);
    try {
      await job(controller.signal);
    } finally {
      this.active.delete(controller);
      this.release();
    }
  }

  /** Abandons waiting jobs and aborts running ones; later run() calls return at once. */
  close(): void {
    this.closed = true;
    for (const abandon of this.waiting.splice(0)) abandon(false);
    const reason = new Error('validation abandoned: the ACME server is closing');
    for (const c of this.active) c.abort(reason);
  }

  stats(): ValidationSlotStats {
    return { running: this.running, queued: this.waiting.length, maxRunning: this.maxRunning, maxQueued: this.maxQueued };
  }

  /** A finished job hands its slot straight to the oldest waiter, so a newcomer cannot jump the queue. */
  private release(): void {
    const next = this.waiting.shift();
    if (next) next(true);
    else this.running--;
  }
}
