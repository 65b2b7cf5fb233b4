import { createHash, createPrivateKey, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { closeSync, constants, existsSync, fstatSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, realpathSync, renameSync, rmSync, statSync, fsyncSync } from 'node:fs';
import { basename, dirname, join, relative, sep } from 'node:path';
import { WardgateError } from '../errors.ts';
import { processAlive } from '../process-alive.ts';
import { DataDirStaging } from './atomic-data-dir.ts';
import { isLockFile } from './data-dir-lock.ts';
import { fsyncDir } from './atomic-file.ts';
import { FAMILY, missingCaFiles, pathProblem } from './backup-rules.ts';
import { MAGIC_V1, MAGIC_V2, MAX_LEGACY_ARCHIVE, readLegacyBackup, type LegacyArchive } from './backup-legacy.ts';
import { ChunkSealer, HEADER_V3, MAGIC_V3, openChunks, openHeaderV3, parseHeaderV3 } from './backup-stream.ts';
import { endRecord, fileRecordHeader, metaRecord, readRecords } from './backup-records.ts';
import { Unpacker } from './backup-unpack.ts';
import type { Store } from './store.ts';

/** Files are read in pieces of this size: a multi-GB store never sits in memory. */
const READ_PIECE = 1 << 20;

/**
 * Symbolic links are followed (an admin may have put ca/keys on another volume): what the CA reads is what
 * must be in the archive. `seen` stops a link loop.
 */
function walk(dir: string, seen = new Set<string>()): string[] {
  if (!existsSync(dir)) return [];
  const real = realpathSync(dir);
  if (seen.has(real)) return [];
  seen.add(real);
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    const st = e.isSymbolicLink() ? statIfExists(p) : e;
    if (st?.isDirectory()) return walk(p, seen);
    return st?.isFile() && !e.name.endsWith('.tmp') ? [p] : [];
  });
}

function statIfExists(p: string) {
  try {
    return statSync(p);
  } catch {
    return undefined;
  }
}

function readHead(p: string, length: number): Buffer {
  const fd = openSync(p, 'r');
  try {
    const buf = Buffer.alloc(length);
    return buf.subarray(0, readSync(fd, buf, 0, length, 0));
  } finally {
    closeSync(fd);
  }
}

/** Feeds exactly the `size` bytes a file had when its record header was written, piece by piece. */
function packFile(sealer: ChunkSealer, source: string, archivePath: string, mode: number): void {
  const fd = openSync(source, 'r');
  try {
    const size = fstatSync(fd).size;
    sealer.push(fileRecordHeader(archivePath, mode, size));
    const piece = Buffer.alloc(Math.min(READ_PIECE, size));
    let done = 0;
    while (done < size) {
      const n = readSync(fd, piece, 0, Math.min(piece.length, size - done), done);
      if (n === 0) throw new WardgateError('BACKUP_INVALID', `not writing a backup: ${source} shrank while it was being read`);
      sealer.push(piece.subarray(0, n));
      done += n;
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes an encrypted archive of the data dir: the CA directory (certificates and the already encrypted
 * keys) plus a consistent snapshot of the store taken while it stays online, so issuance may go on
 * meanwhile. Format 3 (backup-stream.ts, backup-records.ts): files are read and sealed a piece at a time,
 * so memory stays bounded whatever the store's size. The file appears under its name only complete
 * (written beside it, then renamed), so a partial archive never looks valid.
 */
export async function writeBackup(opts: { dataDir: string; caDir: string; store: Store; storeFile: string; passphrase: string; out: string }): Promise<{ files: number; bytes: number; removedPartials: string[] }> {
  const removedPartials = removeDeadPartials(dirname(opts.out));
  const scratch = makeScratch(opts.dataDir);
  try {
    const snapshot = join(scratch, 'store.db');
    await opts.store.backupTo(snapshot);
    const packed = walk(opts.dataDir)
      .filter((p) => p.startsWith(opts.caDir + sep) || dirname(p) === opts.dataDir && !basename(p).startsWith('wardgate.db') && !isLockFile(basename(p)))
      // An archive left in the data dir (an older wardgate allowed --out there) would nest in every backup.
      .filter((p) => !readHead(p, FAMILY.length).equals(FAMILY) && !pathProblem(relative(opts.dataDir, p)))
      .map((p) => ({ source: p, path: relative(opts.dataDir, p), mode: statSync(p).mode & 0o777 }));
    const storeFile = relative(opts.dataDir, opts.storeFile);
    packed.push({ source: snapshot, path: storeFile, mode: 0o600 });
    // Refused here rather than discovered at restore time, when the data dir it came from may be gone.
    const caJson = packed.find((f) => f.path === 'ca/ca.json');
    const paths = new Set(packed.map((f) => f.path));
    const missing = caJson ? missingCaFiles(readFileSync(caJson.source), (p) => paths.has(p)) : ['ca/ca.json'];
    if (missing.length > 0) throw new WardgateError('BACKUP_INVALID', `not writing a backup of ${opts.dataDir}: the CA is incomplete, it lacks ${missing.join(', ')}`);
    const bytes = writeSealed(opts.out, opts.passphrase, (sealer) => {
      sealer.push(metaRecord({ format: 'wardgate-backup', version: 3, createdAt: new Date().toISOString(), storeFile }));
      for (const f of packed) packFile(sealer, f.source, f.path, f.mode);
      sealer.push(endRecord(packed.length));
    });
    return { files: packed.length, bytes, removedPartials };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
    activeScratch.delete(scratch);
  }
}

const SCRATCH_PREFIX = '.backup-scratch-';

/** Scratch dirs of backups running in this process (a dead process's pid may be ours now). */
const activeScratch = new Set<string>();

/**
 * The store snapshot goes into a private (0700) directory inside the data dir, not into /tmp: it holds the
 * EAB HMAC keys in the clear like the store itself, so it belongs under the data dir's own protection (and
 * its volume: a 1 GB store does not fit a RAM-backed /tmp). A kill -9 leaves it behind; the next backup
 * removes every scratch dir whose process (the pid in its name) is gone, and keeps a running backup's.
 */
function makeScratch(dataDir: string): string {
  for (const e of readdirSync(dataDir, { withFileTypes: true })) {
    const pid = e.isDirectory() && e.name.startsWith(SCRATCH_PREFIX) ? Number(e.name.slice(SCRATCH_PREFIX.length).split('-')[0]) : NaN;
    const leftByUs = pid === process.pid && !activeScratch.has(join(dataDir, e.name));
    if (Number.isInteger(pid) && pid > 0 && (leftByUs || pid !== process.pid && !processAlive(pid))) rmSync(join(dataDir, e.name), { recursive: true, force: true });
  }
  const scratch = mkdtempSync(join(dataDir, `${SCRATCH_PREFIX}${process.pid}-`));
  activeScratch.add(scratch);
  return scratch;
}

/**
 * A partial archive's name says which host and process writes it: `.NAME.backup-HOST-PID-RANDOM.tmp`
 * (HOST: 8 hex digits of a hash of the host name, for an --out directory on a volume that other hosts
 * write to as well, whose pids mean nothing here).
 */
const HOST_TAG = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);
const PARTIAL = /^\..+\.backup-([0-9a-f]{8})-(\d+)-[0-9a-f]{12}\.tmp$/;

/**
 * A backup killed half-way (kill -9, power loss) leaves its partial archive beside --out: encrypted,
 * 0600, refused by restore, but as large as the archive had grown. The next backup into the same
 * directory removes those whose writer, on this host, is gone; it returns their names.
 */
function removeDeadPartials(dir: string): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return removed; // no such directory yet: the archive's own open names the problem
  }
  for (const name of names) {
    const m = PARTIAL.exec(name);
    if (!m || m[1] !== HOST_TAG) continue;
    const pid = Number(m[2]);
    if (pid === process.pid || processAlive(pid)) continue;
    rmSync(join(dir, name), { force: true });
    removed.push(name);
  }
  return removed;
}

/** The archive is built in a 0600 sibling and renamed into place once complete and on disk. */
function writeSealed(out: string, passphrase: string, fill: (sealer: ChunkSealer) => void): number {
  const tmp = join(dirname(out), `.${basename(out)}.backup-${HOST_TAG}-${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    const sealer = new ChunkSealer(fd, passphrase);
    fill(sealer);
    const bytes = sealer.finish();
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, out);
    fsyncDir(dirname(out));
    return bytes;
  } catch (err) {
    try { closeSync(fd); } catch { /* closed before the rename failed */ }
    rmSync(tmp, { force: true });
    throw err;
  }
}

/**
 * An archive whose header and passphrase have been checked. Formats 1 and 2 are decrypted and checked
 * whole here; format 3 is decrypted and checked as `restoreBackup` streams it.
 */
export type OpenedBackup =
  | { version: 1 | 2; file: string; archive: LegacyArchive }
  | { version: 3; file: string; keys: ReturnType<typeof openHeaderV3>; header: Buffer };

/** Opens `file`, refusing what is not a wardgate archive before reading more than its header. */
function withArchiveFile<T>(file: string, use: (fd: number, size: number, head: Buffer) => T): T {
  let fd: number;
  try {
    // Non-blocking: opening a FIFO (a mistyped --from, a named pipe) for reading otherwise waits for a writer forever.
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw new WardgateError('BACKUP_INVALID', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new WardgateError('BACKUP_INVALID', `${file} is not a file`);
    if (st.size === 0) throw new WardgateError('BACKUP_INVALID', `${file} is empty`);
    const head = Buffer.alloc(Math.min(st.size, HEADER_V3));
    readSync(fd, head, 0, head.length, 0);
    if (!FAMILY.subarray(0, Math.min(head.length, FAMILY.length)).equals(head.subarray(0, FAMILY.length))) throw new WardgateError('BACKUP_INVALID', `${file} is not a wardgate backup (bad header)`);
    return use(fd, st.size, head);
  } finally {
    closeSync(fd);
  }
}

export function readBackup(file: string, passphrase: string): OpenedBackup {
  return withArchiveFile(file, (fd, size, head) => {
    const magic = head.subarray(0, MAGIC_V3.length);
    if (magic.equals(MAGIC_V3)) {
      if (size < HEADER_V3) throw new WardgateError('BACKUP_INVALID', `${file} is truncated: ${size} bytes, shorter than the ${HEADER_V3}-byte header`);
      return { version: 3, file, keys: openHeaderV3(file, parseHeaderV3(head), size, passphrase), header: head };
    }
    if (magic.equals(MAGIC_V1) || magic.equals(MAGIC_V2)) {
      if (size > MAX_LEGACY_ARCHIVE) throw new WardgateError('BACKUP_INVALID', `${file} is ${size} bytes, more than any wardgate backup of format ${magic.equals(MAGIC_V1) ? 1 : 2} can be (${MAX_LEGACY_ARCHIVE})`);
      return { version: magic.equals(MAGIC_V1) ? 1 : 2, file, archive: readLegacyBackup(file, readFileSync(fd), passphrase) };
    }
    if (magic.length === MAGIC_V3.length) throw new WardgateError('BACKUP_INVALID', `${file}: unsupported backup version "${magic.subarray(FAMILY.length, MAGIC_V3.length - 1).toString('latin1')}"`);
    throw new WardgateError('BACKUP_INVALID', `${file} is truncated: ${size} bytes, shorter than the header`);
  });
}

/** Streams a format 3 archive into `unpacker`, verifying each chunk before any of its bytes are written. */
function unpackV3(opened: Extract<OpenedBackup, { version: 3 }>, unpacker: Unpacker): string {
  return withArchiveFile(opened.file, (fd, _size, head) => {
    // The header was checked by readBackup (openChunks checks the size again): it must still be that file.
    if (!head.equals(opened.header)) throw new WardgateError('BACKUP_INVALID', `${opened.file} changed while it was being restored`);
    let createdAt = '';
    readRecords(openChunks(opened.file, fd, parseHeaderV3(head), opened.keys), opened.file, {
      meta: (m) => { createdAt = String(m.createdAt); unpacker.meta(m); },
      fileStart: (path, mode, bytes) => unpacker.fileStart(path, mode, bytes),
      data: (piece) => unpacker.data(piece),
      fileEnd: () => unpacker.fileEnd(),
    });
    return createdAt;
  });
}

function unpackLegacy(archive: LegacyArchive, unpacker: Unpacker): string {
  unpacker.meta(archive);
  for (const f of archive.files) {
    const data = Buffer.from(f.data, 'base64');
    unpacker.fileStart(f.path, f.mode, data.length);
    unpacker.data(data);
    unpacker.fileEnd();
  }
  return archive.createdAt;
}

/**
 * Unpacks an archive into an empty (or missing) data dir, all or nothing (see DataDirStaging): nothing
 * moves into the data dir before the whole archive has been read and authenticated (for format 3: its final
 * chunk verified), every rule of Unpacker holds, and `check` passed on the unpacked copy. A failure at any
 * point leaves the data dir as it was.
 */
export function restoreBackup(opened: OpenedBackup, dataDir: string, check?: (unpackedDir: string) => void): { files: number; createdAt: string } {
  const staging = DataDirStaging.begin(dataDir, { empty: true, command: 'wardgate restore' });
  const unpacker = new Unpacker(opened.file, staging.path);
  try {
    const createdAt = opened.version === 3 ? unpackV3(opened, unpacker) : unpackLegacy(opened.archive, unpacker);
    const files = unpacker.finish();
    check?.(staging.path);
    staging.commit();
    return { files, createdAt };
  } catch (err) {
    unpacker.close();
    staging.abandon();
    throw err;
  }
}

/**
 * Decrypts every CA key of an unpacked data dir with the CA passphrase, so that a restore never installs
 * keys that `serve` cannot open (an archive under a separate WARDGATE_BACKUP_PASSPHRASE says nothing about
 * the CA passphrase). The message names the key, never the passphrase.
 */
export function assertCaKeysDecrypt(keysDir: string, passphrase: string, passphraseName: string): number {
  const names = existsSync(keysDir) ? readdirSync(keysDir).filter((n) => n.endsWith('.key.pem')) : [];
  for (const name of names) {
    try {
      createPrivateKey({ key: readFileSync(join(keysDir, name), 'utf8'), format: 'pem', passphrase });
    } catch {
      throw new WardgateError('PASSPHRASE_WRONG', `the CA key ${name} in the archive does not decrypt with ${passphraseName} (or is damaged); nothing was restored`);
    }
  }
  return names.length;
}
