import { createCipheriv, createDecipheriv, createHmac, createPrivateKey, randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import { constants as bufferConstants } from 'node:buffer';
import { closeSync, existsSync, fstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, realpathSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, sep } from 'node:path';
import { tmpdir } from 'node:os';
import { gunzipSync, gzipSync } from 'node:zlib';
import { WardgateError } from '../errors.ts';
import { DataDirStaging } from './atomic-data-dir.ts';
import { isLockFile } from './data-dir-lock.ts';
import { writeFileAtomic } from './atomic-file.ts';
import type { Store } from './store.ts';

const FAMILY = Buffer.from('WARDGATE-BACKUP-');
const MAGIC_V1 = Buffer.from('WARDGATE-BACKUP-1\n');
const MAGIC = Buffer.from('WARDGATE-BACKUP-2\n');
/** Version 2 header after the magic: salt(16), iv(12), body length (uint64 BE), key check(16), GCM tag(16). */
const HEADER_V2 = MAGIC.length + 16 + 12 + 8 + 16 + 16;
const HEADER_V1 = MAGIC_V1.length + 16 + 12 + 16;
const SCRYPT = { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
/**
 * The archive is one JSON string, and V8 caps a string at this many characters: no archive wardgate wrote
 * decompresses to more, so a body that does is refused before it fills memory (a 3 MB gzip bomb otherwise
 * inflates to 4 GB, the Buffer limit, and the process to several GB).
 */
const MAX_PLAIN = bufferConstants.MAX_STRING_LENGTH;
/** Deflate adds at most 5 bytes per 16 KiB stored block to incompressible input, plus its headers. */
const MAX_ARCHIVE = HEADER_V2 + MAX_PLAIN + Math.ceil(MAX_PLAIN / 16384) * 5 + 1024;
const STORE_FILE = 'wardgate.db';

interface ArchiveFile { path: string; mode: number; data: string }
interface Archive { format: 'wardgate-backup'; version: 1; createdAt: string; storeFile: string; files: ArchiveFile[] }

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

/**
 * Why an archive path must not be restored, or undefined. An archive holds ca/... and plain files at the
 * top of the data dir, nothing else: no hidden top-level names (the data-dir lock, and the staging dirs of
 * DataDirStaging, whose leftovers the next init or restore acts on), no SQLite side files next to the
 * store (a crafted -wal would change the store after its check), nothing outside the data dir.
 */
function pathProblem(path: string): string | undefined {
  const parts = path.split('/');
  if (path.includes('\0')) return 'a name with a NUL byte';
  if (parts.some((p) => p === '' || p === '.' || p === '..')) return 'an absolute path or an empty, "." or ".." segment';
  if (parts[0] === 'ca') return parts.length > 1 ? undefined : 'ca as a file';
  if (parts.length > 1) return 'a directory other than ca/';
  if (path.startsWith('.')) return 'a hidden file at the top of the data dir';
  if (path !== STORE_FILE && path.startsWith(STORE_FILE)) return 'a store side file';
  return undefined;
}

/** Keys are private whatever the archive says; nothing restored is executable, setuid or writable by others. */
function restoredMode(path: string, mode: number): number {
  return path.startsWith('ca/keys/') || path === 'ca/ca.json' || path === STORE_FILE ? 0o600 : (mode & 0o644) | 0o600;
}

/**
 * The files ca/ca.json needs: root and issuer certificates, issuer keys, and the root key unless the root
 * was taken offline. Missing ones are named; checked when writing an archive and again before restoring.
 */
function missingCaFiles(files: ReadonlyMap<string, Buffer>): string[] {
  let meta: { root?: { id?: unknown; offline?: unknown }; issuers?: Array<{ id?: unknown }> };
  try {
    meta = JSON.parse(files.get('ca/ca.json')!.toString('utf8'));
  } catch {
    return ['a readable ca/ca.json'];
  }
  if (typeof meta?.root?.id !== 'string' || !Array.isArray(meta.issuers)) return ['a valid ca/ca.json'];
  const needed = ['ca/root.pem', ...(meta.root.offline === true ? [] : [`ca/keys/${meta.root.id}.key.pem`])];
  for (const i of meta.issuers) needed.push(`ca/issuers/${String(i?.id)}.pem`, `ca/keys/${String(i?.id)}.key.pem`);
  return needed.filter((p) => !files.has(p));
}

/** Version 1 used the scrypt output as the AES key only. */
function deriveKeyV1(passphrase: string, salt: Buffer): Buffer {
  return scryptSync(passphrase, salt, 32, SCRYPT);
}

/**
 * Version 2 derives two keys: one for AES-256-GCM, one for a key check value that tells a wrong passphrase
 * apart from a damaged archive (the GCM tag alone fails the same way for both).
 */
function deriveKeys(passphrase: string, salt: Buffer): { enc: Buffer; check: Buffer } {
  const k = scryptSync(passphrase, salt, 64, SCRYPT);
  return { enc: k.subarray(0, 32), check: createHmac('sha256', k.subarray(32)).update('wardgate backup key check').digest().subarray(0, 16) };
}

/**
 * Writes an encrypted archive of the data dir: the CA directory (certificates and the already encrypted
 * keys) plus a consistent snapshot of the store taken while it stays online, so issuance may go on
 * meanwhile. Format 2: magic, salt(16), iv(12), body length(8), key check(16), GCM tag(16),
 * AES-256-GCM(gzip(JSON)) with the whole header before the tag as additional data; keys from scrypt.
 * The file appears under its name only complete (atomic rename), so a partial archive never looks valid.
 */
export async function writeBackup(opts: { dataDir: string; caDir: string; store: Store; storeFile: string; passphrase: string; out: string }): Promise<{ files: number; bytes: number }> {
  // A private (0700) directory: the snapshot holds EAB HMAC keys in the clear, and a kill -9 leaves it behind.
  const scratch = mkdtempSync(join(tmpdir(), 'wardgate-backup-'));
  try {
    const snapshot = join(scratch, 'store.db');
    await opts.store.backupTo(snapshot);
    const packed = walk(opts.dataDir)
      .filter((p) => p.startsWith(opts.caDir + sep) || dirname(p) === opts.dataDir && !basename(p).startsWith('wardgate.db') && !isLockFile(basename(p)))
      .map((p) => ({ p, data: readFileSync(p) }))
      // An archive left in the data dir (an older wardgate allowed --out there) would nest in every backup.
      .filter(({ p, data }) => !data.subarray(0, FAMILY.length).equals(FAMILY) && !pathProblem(relative(opts.dataDir, p)))
      .map(({ p, data }) => ({ path: relative(opts.dataDir, p), mode: statSync(p).mode & 0o777, data }));
    const storeFile = relative(opts.dataDir, opts.storeFile);
    packed.push({ path: storeFile, mode: 0o600, data: readFileSync(snapshot) });
    // Refused here rather than discovered at restore time, when the data dir it came from may be gone.
    const missing = packed.some((f) => f.path === 'ca/ca.json') ? missingCaFiles(new Map(packed.map((f) => [f.path, f.data]))) : ['ca/ca.json'];
    if (missing.length > 0) throw new WardgateError('BACKUP_INVALID', `not writing a backup of ${opts.dataDir}: the CA is incomplete, it lacks ${missing.join(', ')}`);
    const files: ArchiveFile[] = packed.map((f) => ({ path: f.path, mode: f.mode, data: f.data.toString('base64') }));
    const archive: Archive = { format: 'wardgate-backup', version: 1, createdAt: new Date().toISOString(), storeFile, files };
    const plain = gzipSync(Buffer.from(JSON.stringify(archive)));
    const salt = randomBytes(16);
    const iv = randomBytes(12);
    const keys = deriveKeys(opts.passphrase, salt);
    const length = Buffer.alloc(8);
    // AES-GCM adds no padding: the body is as long as the compressed plaintext.
    length.writeBigUInt64BE(BigInt(plain.length));
    const aad = Buffer.concat([MAGIC, salt, iv, length, keys.check]);
    const cipher = createCipheriv('aes-256-gcm', keys.enc, iv);
    cipher.setAAD(aad);
    const body = Buffer.concat([cipher.update(plain), cipher.final()]);
    const out = Buffer.concat([aad, cipher.getAuthTag(), body]);
    writeFileAtomic(opts.out, out, 0o600);
    return { files: files.length, bytes: out.length };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

function readArchiveFile(file: string): Buffer {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    throw new WardgateError('BACKUP_INVALID', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new WardgateError('BACKUP_INVALID', `${file} is not a file`);
    // Look at the magic before reading the rest, so that a foreign multi-GB file is refused cheaply.
    const head = Buffer.alloc(Math.min(st.size, FAMILY.length));
    readSync(fd, head, 0, head.length, 0);
    if (st.size === 0) throw new WardgateError('BACKUP_INVALID', `${file} is empty`);
    if (!FAMILY.subarray(0, head.length).equals(head)) throw new WardgateError('BACKUP_INVALID', `${file} is not a wardgate backup (bad header)`);
    if (st.size > MAX_ARCHIVE) throw new WardgateError('BACKUP_INVALID', `${file} is ${st.size} bytes, more than any wardgate backup can be (${MAX_ARCHIVE})`);
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function readBackup(file: string, passphrase: string): Archive {
  const buf = readArchiveFile(file);
  const plain = buf.subarray(0, MAGIC_V1.length).equals(MAGIC_V1) ? decryptV1(file, buf, passphrase) : decryptV2(file, buf, passphrase);
  let json: Buffer;
  try {
    json = gunzipSync(plain, { maxOutputLength: MAX_PLAIN });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new WardgateError('BACKUP_INVALID', `${file} decompresses to more than ${MAX_PLAIN} bytes, more than wardgate backup ever writes`);
    throw new WardgateError('BACKUP_INVALID', `${file}: the decrypted archive is not readable (not written by wardgate backup)`);
  }
  let archive: Archive;
  try {
    archive = JSON.parse(json.toString('utf8')) as Archive;
  } catch {
    throw new WardgateError('BACKUP_INVALID', `${file}: the decrypted archive is not readable (not written by wardgate backup)`);
  }
  if (archive?.format !== 'wardgate-backup' || archive.version !== 1 || !Array.isArray(archive.files)) throw new WardgateError('BACKUP_INVALID', `${file}: unknown backup format`);
  assertRestorable(file, archive);
  return archive;
}

/**
 * The archive is authenticated, but only by a passphrase: one crafted or damaged by whoever knows it must
 * still never write outside the data dir, plant files the data dir's own machinery acts on, or restore a
 * CA that cannot start. All of it is checked before anything is written.
 */
function assertRestorable(file: string, archive: Archive): void {
  const invalid = (why: string) => new WardgateError('BACKUP_INVALID', `${file}: ${why}`);
  if (archive.storeFile !== STORE_FILE) throw invalid(`the store is named ${JSON.stringify(archive.storeFile)}, not ${STORE_FILE}`);
  const files = new Map<string, Buffer>();
  for (const f of archive.files) {
    if (typeof f?.path !== 'string' || typeof f.data !== 'string' || !Number.isInteger(f.mode) || f.mode < 0 || f.mode > 0o7777) throw invalid('an entry lacks a path, mode or content');
    const problem = pathProblem(f.path);
    if (problem) throw invalid(`the entry ${JSON.stringify(f.path)} is ${problem}; refusing to restore it`);
    if (files.has(f.path)) throw invalid(`the entry ${f.path} appears twice`);
    files.set(f.path, Buffer.from(f.data, 'base64'));
  }
  for (const path of files.keys()) {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      if (files.has(parts.slice(0, i).join('/'))) throw invalid(`${parts.slice(0, i).join('/')} is both a file and the directory of ${path}`);
    }
  }
  for (const required of ['ca/ca.json', STORE_FILE]) if (!files.has(required)) throw invalid(`the archive lacks ${required}`);
  const missing = missingCaFiles(files);
  if (missing.length > 0) throw invalid(`the CA in it is incomplete, it lacks ${missing.join(', ')}`);
}

function decryptV2(file: string, buf: Buffer, passphrase: string): Buffer {
  if (buf.length < MAGIC.length || !buf.subarray(0, MAGIC.length).equals(MAGIC)) {
    if (buf.length >= MAGIC.length) throw new WardgateError('BACKUP_INVALID', `${file}: unsupported backup version "${buf.subarray(FAMILY.length, MAGIC.length - 1).toString('latin1')}"`);
    throw new WardgateError('BACKUP_INVALID', `${file} is truncated: ${buf.length} bytes, shorter than the header`);
  }
  if (buf.length < HEADER_V2) throw new WardgateError('BACKUP_INVALID', `${file} is truncated: ${buf.length} bytes, shorter than the ${HEADER_V2}-byte header`);
  let o = MAGIC.length;
  const salt = buf.subarray(o, (o += 16));
  const iv = buf.subarray(o, (o += 12));
  const declared = buf.readBigUInt64BE(o); o += 8;
  const check = buf.subarray(o, (o += 16));
  const aad = buf.subarray(0, o);
  const tag = buf.subarray(o, (o += 16));
  const body = buf.subarray(o);
  if (BigInt(body.length) < declared) throw new WardgateError('BACKUP_INVALID', `${file} is truncated: ${buf.length} of ${BigInt(HEADER_V2) + declared} bytes`);
  if (BigInt(body.length) > declared) throw new WardgateError('BACKUP_INVALID', `${file} has ${BigInt(body.length) - declared} bytes after the end of the archive: it was altered`);
  const keys = deriveKeys(passphrase, salt);
  if (!timingSafeEqual(keys.check, check)) throw new WardgateError('PASSPHRASE_WRONG', `cannot decrypt ${file}: wrong passphrase (WARDGATE_BACKUP_PASSPHRASE if it was set for the backup, else WARDGATE_CA_PASSPHRASE)`);
  const decipher = createDecipheriv('aes-256-gcm', keys.enc, iv);
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(body), decipher.final()]);
  } catch {
    throw new WardgateError('BACKUP_INVALID', `${file} is corrupt: the passphrase is right but the content fails authentication (altered or damaged)`);
  }
}

function decryptV1(file: string, buf: Buffer, passphrase: string): Buffer {
  if (buf.length < HEADER_V1) throw new WardgateError('BACKUP_INVALID', `${file} is truncated: ${buf.length} bytes, shorter than the header`);
  let o = MAGIC_V1.length;
  const salt = buf.subarray(o, (o += 16));
  const iv = buf.subarray(o, (o += 12));
  const tag = buf.subarray(o, (o += 16));
  const decipher = createDecipheriv('aes-256-gcm', deriveKeyV1(passphrase, salt), iv);
  decipher.setAAD(MAGIC_V1);
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(buf.subarray(o)), decipher.final()]);
  } catch {
    // Version 1 has no key check: a wrong passphrase and a damaged archive look the same.
    throw new WardgateError('PASSPHRASE_WRONG', `cannot decrypt ${file}: wrong passphrase, or the archive was altered or truncated`);
  }
}

/**
 * Unpacks an archive into an empty (or missing) data dir, all or nothing (see DataDirStaging): `check`
 * runs on the unpacked copy before it moves into place, and a failure leaves the data dir as it was.
 */
export function restoreBackup(archive: Archive, dataDir: string, check?: (unpackedDir: string) => void): { files: number } {
  const staging = DataDirStaging.begin(dataDir, { empty: true, command: 'wardgate restore' });
  try {
    for (const f of archive.files) {
      const target = join(staging.path, f.path);
      // Also checked by readBackup; kept because this is the one place that writes.
      if (pathProblem(f.path) || !target.startsWith(staging.path + sep)) throw new WardgateError('BACKUP_INVALID', `backup names a path outside the data dir: ${f.path}`);
      mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
      writeFileAtomic(target, Buffer.from(f.data, 'base64'), restoredMode(f.path, f.mode));
    }
    check?.(staging.path);
    staging.commit();
  } catch (err) {
    staging.abandon();
    throw err;
  }
  return { files: archive.files.length };
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
