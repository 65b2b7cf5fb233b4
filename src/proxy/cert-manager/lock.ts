/**
 * A renewal lock file (O_EXCL) so that two gateway processes sharing a state directory never renew the
 * same certificate at once; a lock whose owner process is gone is taken over.
 */
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { processAlive } from '../../process-alive.ts';


/** Returns a release function, or undefined when another live process holds the lock. */
export function tryLock(path: string): (() => void) | undefined {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => {
        try { unlinkSync(path); } catch { /* already gone */ }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(readFileSync(path, 'utf8').trim());
      if (Number.isInteger(owner) && owner > 0 && processAlive(owner)) return undefined;
      try { unlinkSync(path); } catch { /* raced with another taker */ }
    }
  }
  return undefined;
}
