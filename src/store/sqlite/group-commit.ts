import type Database from 'better-sqlite3';

interface Queued {
  fn: () => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit for durable writes (synchronous=FULL): writes queued during one turn of the event
 * loop are committed together, one fsync for all of them, at the end of that turn. Each write runs in
 * its own savepoint, so one that throws is rolled back alone and the others still commit. A write's
 * promise settles only after the commit returned: whoever awaits it may tell a client that the data
 * is stored. Under kill -9 a queued write is lost together with its unsettled promise, so nothing
 * was acknowledged that is not on disk.
 */
export class GroupCommit {
  private queue: Queued[] = [];

  constructor(private readonly db: Database.Database) {}

  run<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.queue.length === 0) setImmediate(() => this.flush());
      this.queue.push({ fn, resolve: resolve as (v: unknown) => void, reject });
    });
  }

  /** Commits what is queued now (also called before the store closes). */
  flush(): void {
    const batch = this.queue;
    if (batch.length === 0) return;
    this.queue = [];
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; err: unknown }> = [];
    try {
      this.db.transaction(() => {
        for (const op of batch) {
          try {
            // A transaction function called inside a transaction is a savepoint in better-sqlite3.
            outcomes.push({ ok: true, value: this.db.transaction(op.fn)() });
          } catch (err) {
            outcomes.push({ ok: false, err });
          }
        }
      }).immediate();
    } catch (err) {
      for (const op of batch) op.reject(err);
      return;
    }
    batch.forEach((op, i) => {
      const o = outcomes[i];
      if (o.ok) op.resolve(o.value);
      else op.reject(o.err);
    });
  }
}
