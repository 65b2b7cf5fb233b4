import { chmodSync, statSync } from 'node:fs';

/** Paths whose warning was printed already: one line per store and process, not one per open. */
const warned = new Set<string>();

/**
 * The store holds EAB HMAC keys, so it and its WAL and shared-memory files must be private (0600). New
 * stores are made so; a store made by an older wardgate is 0644 and is tightened here when it is opened.
 * Only files this user owns are changed; one that cannot be (another owner, EPERM, a read-only file
 * system) leaves the store usable and gets one line on stderr.
 */
export function makeStoreFilesPrivate(storePath: string): void {
  const loose: string[] = [];
  // SQLite makes the -wal and -shm files with the mode of the database file, so the order matters:
  // the database first, then any -wal/-shm an older run left with the old mode.
  for (const path of [storePath, `${storePath}-wal`, `${storePath}-shm`]) {
    let mode: number;
    let uid: number;
    try {
      ({ mode, uid } = statSync(path));
    } catch {
      continue;
    }
    if ((mode & 0o077) === 0) continue;
    const mine = process.getuid === undefined || uid === process.getuid();
    try {
      if (!mine) throw new Error(`owned by uid ${uid}`);
      chmodSync(path, mode & 0o700);
    } catch (err) {
      loose.push(`${path} (${(mode & 0o777).toString(8).padStart(4, '0')}, ${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }
  if (loose.length > 0 && !warned.has(storePath)) {
    warned.add(storePath);
    process.stderr.write(`wardgate: warning: the store holds EAB keys but is readable by other users and could not be made private: ${loose.join(', ')}; chmod 600 it as its owner\n`);
  }
}
