import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { WardgateError } from '../errors.ts';
import { processAlive } from '../process-alive.ts';

/** The lock: an empty SQLite file whose POSIX (fcntl) write lock SQLite takes and the kernel drops on exit. */
const LOCK_FILE = '.wardgate.lock';
/** Who holds the lock, for the refusal message only: the lock itself never depends on it. */
const HOLDER_FILE = '.wardgate.lock.holder';

/** True for the lock's own files: not part of the CA, never backed up, not content of a data dir. */
export function isLockFile(name: string): boolean {
  return name === LOCK_FILE || name === HOLDER_FILE;
}

interface Holder { pid: number; command: string; since: string }

/**
 * The one lock of a data dir. `serve` (and `dev`) hold it for their lifetime; the commands that create or
 * replace CA files (init, restore, ca rollover, ca root-offline, dev-certs) hold it while they run. The
 * commands that only read or run single store transactions (list, backup, issue, revoke, eab, crl,
 * renew-early) do not take it: SQLite serialises their writes against serve's.
 *
 * A kill -9 of the holder leaves no stale lock: the lock is SQLite's EXCLUSIVE lock (an fcntl write lock),
 * which the kernel releases when the process dies, whatever files are left behind. Nothing is ever written
 * to the lock database, so it cannot be damaged by a crash. Refusals name the holder when it is alive.
 */
export class DataDirLock {
  private db?: Database.Database;
  private readonly onExit = () => this.release();

  private constructor(readonly dir: string, db: Database.Database) {
    this.db = db;
    process.once('exit', this.onExit);
  }

  /**
   * Takes the lock of `dir` or throws DATA_DIR_LOCKED at once (no waiting: the holder may be a server
   * that runs for months). `command` names the holder in other processes' refusals ("wardgate serve").
   * With `create` a missing data dir is made (0700); without, a missing one is DATA_DIR_MISSING.
   */
  static acquire(dir: string, command: string, opts: { create?: boolean } = {}): DataDirLock {
    const path = join(dir, LOCK_FILE);
    // A few rounds only matter when a holder releases (and removes the file) while we open it.
    for (let round = 0; round < 5; round++) {
      if (opts.create) mkdirSync(dir, { recursive: true, mode: 0o700 });
      else if (!existsSync(dir)) throw new WardgateError('DATA_DIR_MISSING', `no CA in this data dir (${dir} does not exist): run \`wardgate init\` first`);
      createLockFile(path);
      const before = statOrUndefined(path);
      if (!before) continue;
      let db: Database.Database | undefined;
      try {
        db = new Database(path, { timeout: 0 });
        // https://sqlite.org/pragma.html#pragma_locking_mode: the lock stays until the connection closes.
        db.pragma('locking_mode = EXCLUSIVE');
        // Nothing is ever written, so the journal may live in memory: no -journal file next to the lock
        // (better-sqlite3's defensive mode refuses journal_mode=OFF).
        db.pragma('journal_mode = MEMORY');
        db.exec('BEGIN EXCLUSIVE');
      } catch (err) {
        db?.close();
        if ((err as { code?: string }).code === 'SQLITE_BUSY') throw new WardgateError('DATA_DIR_LOCKED', refusal(dir), { cause: err });
        throw err;
      }
      // The lock counts only if the path still names the file we locked: a holder releasing meanwhile
      // removes it, and the next one would lock a new file under the same name.
      if (sameFile(before, statOrUndefined(path))) {
        const lock = new DataDirLock(dir, db);
        const holder: Holder = { pid: process.pid, command, since: new Date().toISOString() };
        // Written in place, not via a temporary file that a kill -9 could leave in the data dir; a reader
        // that meets it half-written names no holder.
        writeFileSync(join(dir, HOLDER_FILE), JSON.stringify(holder), { mode: 0o600 });
        return lock;
      }
      db.close();
    }
    throw new WardgateError('DATA_DIR_LOCKED', `could not lock data dir ${dir}: its lock file kept being replaced by other processes`);
  }

  /** Releases the lock and removes its files (idempotent; also runs on process exit). */
  release(): void {
    if (!this.db) return;
    process.removeListener('exit', this.onExit);
    // Removed while still held: a process that opened the old file meanwhile and locks it once we close
    // sees that the path no longer names it (see acquire) and tries again on a new one.
    rmSync(join(this.dir, HOLDER_FILE), { force: true });
    rmSync(join(this.dir, LOCK_FILE), { force: true });
    this.db.close();
    this.db = undefined;
  }
}

/**
 * Creates the lock file 0600 when missing. Never opens an existing one: closing any descriptor of a file
 * drops all of this process's POSIX locks on it (POSIX fcntl), a lock this process might hold.
 */
function createLockFile(path: string): void {
  if (existsSync(path)) return;
  try {
    closeSync(openSync(path, 'wx', 0o600));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EEXIST' && code !== 'ENOENT') throw err;
  }
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

function sameFile(a: Stats, b: Stats | undefined): boolean {
  return b !== undefined && a.dev === b.dev && a.ino === b.ino;
}

function refusal(dir: string): string {
  const holder = readHolder(dir);
  const who = holder ? `${holder.command}, pid ${holder.pid} (since ${holder.since})` : 'another wardgate process';
  return `data dir ${dir} is in use by ${who}; stop it first, or use another data dir`;
}

/** The recorded holder, if that process is still alive (a killed holder's record may linger). */
function readHolder(dir: string): Holder | undefined {
  try {
    const h = JSON.parse(readFileSync(join(dir, HOLDER_FILE), 'utf8')) as Holder;
    if (!Number.isInteger(h.pid) || typeof h.command !== 'string') return undefined;
    return processAlive(h.pid) ? h : undefined;
  } catch {
    return undefined;
  }
}

