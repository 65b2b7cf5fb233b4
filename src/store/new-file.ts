import { closeSync, constants, fsyncSync, openSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { fsyncDir, writeFully } from './atomic-file.ts';

/**
 * Creates `path` and writes `data` to it, durably (file and directory fsynced). Refuses (EEXIST, or
 * ELOOP) whatever already sits at `path`, a symlink included even when it dangles: O_CREAT|O_EXCL never
 * follows one, and O_NOFOLLOW says so explicitly. A failed write removes the file it created.
 */
export function writeNewFile(path: string, data: string | Uint8Array, mode = 0o600): void {
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
  try {
    writeFully(fd, data);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkSync(path);
    throw err;
  }
  closeSync(fd);
  fsyncDir(dirname(path));
}
