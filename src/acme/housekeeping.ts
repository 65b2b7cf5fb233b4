import { setImmediate as nextTurn } from 'node:timers/promises';
import type { AcmeStore } from '../store/acme-store.ts';
import type { PruneCounts } from '../store/acme-types.ts';

/**
 * Rows (orders, authorizations, challenges) deleted per prune transaction: about 200 orders of one
 * identifier. Pruning 100,000 abandoned orders took 4-6 ms per batch (median) and under 20 ms at worst
 * (when the commit ran a WAL checkpoint): what a request arriving meanwhile waits at most.
 */
export const PRUNE_BATCH_ROWS = 1000;

/** The first run waits this long after start (or one interval, if shorter): start-up and the first requests go first. */
export const FIRST_RUN_DELAY_MS = 60_000;

export interface PruneRun extends PruneCounts {
  /** Transactions committed (the last one may have deleted nothing). */
  batches: number;
  /** Longest single transaction, i.e. the longest the event loop was blocked by this run. */
  slowestBatchMs: number;
}

/**
 * Deletes every order that expired before `before` and can no longer become valid (AcmeStore.pruneExpired),
 * one transaction of about `batchRows` rows at a time, yielding to the event loop between batches so that
 * requests are served while a large backlog drains. `signal` stops it between two batches.
 */
export async function pruneExpiredOrders(
  store: AcmeStore, before: Date, opts: { batchRows?: number; signal?: AbortSignal } = {},
): Promise<PruneRun> {
  const limit = Math.max(1, opts.batchRows ?? PRUNE_BATCH_ROWS);
  const run: PruneRun = { orders: 0, authzs: 0, challenges: 0, batches: 0, slowestBatchMs: 0 };
  const cutoff = before.toISOString();
  while (!opts.signal?.aborted) {
    const started = performance.now();
    const n = store.pruneExpired(cutoff, limit);
    run.slowestBatchMs = Math.max(run.slowestBatchMs, performance.now() - started);
    run.batches++;
    run.orders += n.orders;
    run.authzs += n.authzs;
    run.challenges += n.challenges;
    if (n.orders + n.authzs + n.challenges < limit) break;
    await nextTurn();
  }
  return run;
}

/** The subset of fastify's (pino) logger that housekeeping writes to. */
export interface HousekeepingLog { info(obj: object, msg: string): void }

export interface HousekeepingOptions {
  /** How long after its `expires` an unfinished order is kept (AcmeOptions.orderRetentionMs). */
  retentionMs: number;
  intervalMs: number;
  batchRows?: number;
  /** Clock, injectable so tests need not wait for orders to expire. */
  now?: () => number;
  log: HousekeepingLog;
  onError: (err: unknown) => void;
}

export interface Housekeeping {
  /** Runs a prune now (joins the one running); what the timer calls. */
  runNow(): Promise<PruneRun>;
  /** Cancels the timer and waits for a running prune to finish its current batch (before the store closes). */
  stop(): Promise<void>;
}

/**
 * Prunes the ACME store of orders that were abandoned or failed, once shortly after start and then every
 * `intervalMs`. The next run is scheduled when one ends, so runs never overlap; the timer is unref'd so
 * it never keeps the process alive. Logs only runs that deleted something.
 */
export function startHousekeeping(store: AcmeStore, opts: HousekeepingOptions): Housekeeping {
  const now = opts.now ?? Date.now;
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<PruneRun> | undefined;

  const schedule = (ms: number) => {
    if (abort.signal.aborted) return;
    // setTimeout fires at once for delays beyond 2^31-1 ms (~24.8 days): cap them rather than spin.
    timer = setTimeout(() => {
      runNow().catch(opts.onError).finally(() => schedule(opts.intervalMs));
    }, Math.min(ms, 2 ** 31 - 1));
    timer.unref();
  };

  function runNow(): Promise<PruneRun> {
    running ??= (async () => {
      try {
        // Floored at the epoch: a retention longer than that keeps everything (and stays a valid Date).
        const before = new Date(Math.max(0, now() - opts.retentionMs));
        const run = await pruneExpiredOrders(store, before, { batchRows: opts.batchRows, signal: abort.signal });
        if (run.orders > 0) {
          opts.log.info({ prunedOrders: run.orders, prunedAuthzs: run.authzs, prunedChallenges: run.challenges, batches: run.batches, slowestBatchMs: Math.round(run.slowestBatchMs) },
            'acme housekeeping: pruned orders expired without a certificate');
        }
        return run;
      } finally {
        running = undefined;
      }
    })();
    return running;
  }

  schedule(Math.min(FIRST_RUN_DELAY_MS, opts.intervalMs));
  return {
    runNow,
    async stop() {
      abort.abort();
      clearTimeout(timer);
      await running?.catch(() => undefined);
    },
  };
}
