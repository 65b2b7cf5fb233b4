import { closeSync, fdatasync, fdatasyncSync, fsyncSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import type Database from 'better-sqlite3';

interface Queued {
  fn: () => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

type Settle = (syncError?: unknown) => void;

/** How the WAL reaches the disk; a parameter so that a test can stand in a slow disk. */
export type FileSync = (fd: number, done: (err: Error | null) => void) => void;

/**
 * Group commit for durable writes: writes queued during one turn of the event loop are committed
 * together, one fsync for all of them, at the end of that turn. Each write runs in its own savepoint,
 * so one that throws is rolled back alone and the others still commit. A write's promise settles only
 * once the commit is on disk: whoever awaits it may tell a client that the data is stored. Under
 * kill -9 a queued write is lost together with its unsettled promise, so nothing was acknowledged that
 * is not on disk.
 *
 * With a WAL file (the server's store), the fsync does not run on the event loop. SQLite's
 * synchronous=FULL fsyncs the WAL inside the commit, and better-sqlite3 is synchronous, so every
 * certificate commit stalled every other request for the length of an fsync (~0.2 ms on a local SSD,
 * 5-20 ms on the SAN-backed VMs hospitals run): the batch commits with synchronous=NORMAL (SQLite
 * writes the WAL frames to the OS, no fsync), then the WAL file is fdatasync'ed in libuv's thread
 * pool, and only then do the promises settle. fdatasync on Linux flushes the file's pages whichever
 * descriptor wrote them, so this is FULL's guarantee: the commit and every earlier one (the WAL is
 * written in order) are on disk before anyone is told. NORMAL keeps SQLite's own syncs around
 * checkpoints, so a checkpoint never copies unsynced frames into the database. Batches committed while
 * a sync is in flight share the next one.
 */
export class GroupCommit {
  private queue: Queued[] = [];
  private walFd: number | undefined;
  /** Batches committed and waiting for the sync in flight, and for the one after it. */
  private inFlight: Settle[] | undefined;
  private next: Settle[] = [];
  private closed = false;

  /**
   * `walPath` is the store's WAL file when the connection is in WAL mode on a file; without it each
   * batch commits with the connection's own synchronous=FULL, fsync included, on the event loop.
   */
  constructor(private readonly db: Database.Database, private readonly walPath?: string, private readonly sync: FileSync = fdatasync) {}

  run<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.queue.length === 0) setImmediate(() => this.flush());
      this.queue.push({ fn, resolve: resolve as (v: unknown) => void, reject });
    });
  }

  /** Commits what is queued now (also called before the store closes; then see close()). */
  flush(): void {
    const batch = this.queue;
    if (batch.length === 0) return;
    this.queue = [];
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; err: unknown }> = [];
    const offLoop = this.walPath !== undefined && !this.closed;
    try {
      if (offLoop) this.db.exec('PRAGMA synchronous = NORMAL');
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
      } finally {
        if (offLoop) this.db.exec('PRAGMA synchronous = FULL');
      }
    } catch (err) {
      for (const op of batch) op.reject(err);
      return;
    }
    const settle: Settle = (syncError) => batch.forEach((op, i) => {
      const o = outcomes[i];
      // A commit that did not reach the disk is not acknowledged: the caller reports an error.
      if (syncError !== undefined) op.reject(syncError);
      else if (o.ok) op.resolve(o.value);
      else op.reject(o.err);
    });
    if (!offLoop) return settle();
    this.next.push(settle);
    if (!this.inFlight) this.startSync();
  }

  private startSync(): void {
    const settles = (this.inFlight = this.next);
    this.next = [];
    let fd: number;
    try {
      fd = this.openWal();
    } catch (err) {
      this.inFlight = undefined;
      for (const s of settles) s(err);
      return;
    }
    this.sync(fd, (err) => {
      if (this.inFlight !== settles) {
        // Only close() replaces the batches in flight: it synced and settled them; the file is ours to close.
        this.closeWal();
        return;
      }
      this.inFlight = undefined;
      for (const s of settles) s(err ?? undefined);
      if (this.next.length > 0) this.startSync();
    });
  }

  /**
   * The WAL exists once a commit wrote to it, and stays while this connection is open. Its directory
   * entry is made durable once: a WAL whose name a power cut lost would take its frames along.
   */
  private openWal(): number {
    if (this.walFd === undefined) {
      const dir = openSync(dirname(this.walPath!), 'r');
      try {
        fsyncSync(dir);
      } finally {
        closeSync(dir);
      }
      this.walFd = openSync(this.walPath!, 'r');
    }
    return this.walFd;
  }

  private closeWal(): void {
    if (this.walFd !== undefined) closeSync(this.walFd);
    this.walFd = undefined;
  }

  /**
   * Before the store closes: commits what is queued and syncs on the spot whatever still waits for a
   * sync, so that every promise settles and the connection can close. A sync still running in the pool
   * finds its batches settled and only closes the file.
   */
  close(): void {
    // What is still queued commits with FULL, its fsync on the spot.
    this.closed = true;
    this.flush();
    const waiting = [...(this.inFlight ?? []), ...this.next];
    const running = this.inFlight !== undefined;
    this.inFlight = undefined;
    this.next = [];
    if (waiting.length > 0) {
      let syncError: unknown;
      try {
        fdatasyncSync(this.openWal());
      } catch (err) {
        syncError = err;
      }
      for (const s of waiting) s(syncError);
    }
    if (!running) this.closeWal();
  }
}
