import { closeSync, fchmodSync, fsyncSync, mkdirSync, openSync, readFileSync, statfsSync, writeSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { WardgateError } from '../errors.ts';
import { fsyncDir } from './atomic-file.ts';
import { missingCaFiles, pathProblem, restoredMode, STORE_FILE } from './backup-rules.ts';

/** Certificates, encrypted keys, ca.json, the dev marker: kilobytes each. Only the store grows with use. */
export const MAX_SMALL_FILE = 16 * 1024 * 1024;
/** A CA has a handful of files per issuer generation; more entries than this is an inode bomb. */
export const MAX_ENTRIES = 100_000;
/** A CA has ca/, ca/keys/, ca/issuers/: every directory is created and fsynced, and remembered until the end. */
export const MAX_DIRS = 1_000;
/** Every path is remembered until the end (duplicate and file/directory checks): 100,000 paths of 2 KiB would be 200 MB. */
export const MAX_PATH_BYTES = 8 * 1024 * 1024;

/**
 * Writes archive entries, one at a time and in pieces, into a restore's staging dir, with every check
 * restore makes: the archive is authenticated, but only by a passphrase, and one crafted or damaged by
 * whoever knows it must still never write outside the data dir, plant files the data dir's own machinery
 * acts on, fill its disk, or restore a CA that cannot start. Per-entry rules are checked before the entry's
 * first byte is written, the rules over all entries by `finish`; the caller commits only after that.
 */
export class Unpacker {
  private readonly files = new Set<string>();
  /** Directory → the first entry found under it: a later entry of that name is a file/directory clash. */
  private readonly dirs = new Map<string, string>();
  private current: { path: string; fd: number; left: number } | undefined;
  private pathBytes = 0;

  constructor(private readonly file: string, private readonly root: string) {}

  private invalid(why: string): WardgateError {
    return new WardgateError('BACKUP_INVALID', `${this.file}: ${why}`);
  }

  meta(meta: { storeFile: unknown }): void {
    if (meta.storeFile !== STORE_FILE) throw this.invalid(`the store is named ${JSON.stringify(meta.storeFile)}, not ${STORE_FILE}`);
  }

  fileStart(path: string, mode: number, size: number): void {
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw this.invalid(`the entry ${JSON.stringify(path)} has mode ${mode}, not a file mode`);
    const problem = pathProblem(path);
    const target = join(this.root, path);
    if (problem) throw this.invalid(`the entry ${JSON.stringify(path)} is ${problem}; refusing to restore it`);
    // pathProblem already rules this out; kept because this is the one place that writes.
    if (!target.startsWith(this.root + sep)) throw this.invalid(`the entry ${JSON.stringify(path)} names a path outside the data dir`);
    if (this.files.has(path)) throw this.invalid(`the entry ${path} appears twice`);
    if (this.dirs.has(path)) throw this.invalid(`${path} is both a file and the directory of ${this.dirs.get(path)}`);
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (this.files.has(dir)) throw this.invalid(`${dir} is both a file and the directory of ${path}`);
    }
    if (this.files.size >= MAX_ENTRIES) throw this.invalid(`more than ${MAX_ENTRIES} entries, more than a CA has`);
    this.pathBytes += path.length;
    if (this.pathBytes > MAX_PATH_BYTES) throw this.invalid(`its paths add up to more than ${MAX_PATH_BYTES} bytes, more than a CA has`);
    const newDirs = parts.slice(1).map((_, i) => parts.slice(0, i + 1).join('/')).filter((d) => !this.dirs.has(d));
    if (this.dirs.size + newDirs.length > MAX_DIRS) throw this.invalid(`more than ${MAX_DIRS} directories, more than a CA has`);
    if (path !== STORE_FILE && size > MAX_SMALL_FILE) throw this.invalid(`the entry ${path} declares ${size} bytes, more than a CA file can be (${MAX_SMALL_FILE})`);
    const fs = statfsSync(this.root);
    const free = fs.bavail * fs.bsize;
    if (size > free) throw this.invalid(`the entry ${path} declares ${size} bytes, more than the ${free} bytes free on the data dir's file system`);
    for (const dir of newDirs) this.dirs.set(dir, path);
    this.files.add(path);
    mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
    const fd = openSync(target, 'wx', 0o600);
    this.current = { path, fd, left: size };
    fchmodSync(fd, restoredMode(path, mode));
  }

  data(piece: Buffer): void {
    const c = this.current!;
    if (piece.length > c.left) throw this.invalid(`the entry ${c.path} holds more bytes than it declares`);
    let off = 0;
    while (off < piece.length) off += writeSync(c.fd, piece, off, piece.length - off);
    c.left -= piece.length;
  }

  fileEnd(): void {
    const c = this.current!;
    if (c.left !== 0) throw this.invalid(`the entry ${c.path} ends ${c.left} bytes short of its size`);
    // Durable before the commit renames it into the data dir.
    fsyncSync(c.fd);
    closeSync(c.fd);
    this.current = undefined;
  }

  /** The rules over the whole archive; returns the number of files. */
  finish(): number {
    for (const required of ['ca/ca.json', STORE_FILE]) if (!this.files.has(required)) throw this.invalid(`the archive lacks ${required}`);
    const missing = missingCaFiles(readFileSync(join(this.root, 'ca', 'ca.json')), (p) => this.files.has(p));
    if (missing.length > 0) throw this.invalid(`the CA in it is incomplete, it lacks ${missing.join(', ')}`);
    for (const dir of ['', ...this.dirs.keys()]) fsyncDir(join(this.root, dir));
    return this.files.size;
  }

  /** After a failure: the staging dir is removed by the caller, only the open file is ours to close. */
  close(): void {
    if (this.current) closeSync(this.current.fd);
    this.current = undefined;
  }
}
