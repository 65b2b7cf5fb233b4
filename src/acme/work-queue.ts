/**
 * Tracks background jobs (challenge validation, issuance) by key: a second request for the same key
 * joins the running job instead of starting another, and close() waits for all of them.
 */
export class WorkQueue {
  private readonly running = new Map<string, Promise<void>>();

  run(key: string, job: () => Promise<void>): Promise<void> {
    const existing = this.running.get(key);
    if (existing) return existing;
    const p = job().catch(() => undefined).finally(() => this.running.delete(key));
    this.running.set(key, p);
    return p;
  }

  /** Waits for the job at most `ms`; true when it finished in time. */
  async waitFor(key: string, ms: number): Promise<boolean> {
    const p = this.running.get(key);
    if (!p) return true;
    if (ms <= 0) return false;
    let timer: NodeJS.Timeout | undefined;
    const done = await Promise.race([p.then(() => true), new Promise<boolean>((r) => { timer = setTimeout(() => r(false), ms); })]);
    clearTimeout(timer);
    return done;
  }

  async drain(): Promise<void> {
    await Promise.all([...this.running.values()]);
  }
}
