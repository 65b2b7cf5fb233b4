import { createCipheriv, createDecipheriv, createHmac, randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import { closeSync, existsSync, fstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync } from 'node:fs';
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

interface ArchiveFile { path: string; mode: number; data: string }
interface Archive { format: 'wardgate-backup'; version: 1; createdAt: string; storeFile: string; files: ArchiveFile[] }

function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return walk(p);
    return e.isFile() && !e.name.endsWith('.tmp') ? [p] : [];
  });
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
    const files: ArchiveFile[] = walk(opts.dataDir)
      .filter((p) => p.startsWith(opts.caDir + sep) || dirname(p) === opts.dataDir && !basename(p).startsWith('wardgate.db') && !isLockFile(basename(p)))
      .map((p) => ({ p, data: readFileSync(p) }))
      // An archive left in the data dir (an older wardgate allowed --out there) would nest in every backup.
      .filter(({ data }) => !data.subarray(0, FAMILY.length).equals(FAMILY))
      .map(({ p, data }) => ({ path: relative(opts.dataDir, p), mode: statSync(p).mode & 0o777, data: data.toString('base64') }));
    files.push({ path: relative(opts.dataDir, opts.storeFile), mode: 0o600, data: readFileSync(snapshot).toString('base64') });
    const archive: Archive = { format: 'wardgate-backup', version: 1, createdAt: new Date().toISOString(), storeFile: relative(opts.dataDir, opts.storeFile), files };
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
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function readBackup(file: string, passphrase: string): Archive {
  const buf = readArchiveFile(file);
  const plain = buf.subarray(0, MAGIC_V1.length).equals(MAGIC_V1) ? decryptV1(file, buf, passphrase) : decryptV2(file, buf, passphrase);
  let archive: Archive;
  try {
    archive = JSON.parse(gunzipSync(plain).toString('utf8')) as Archive;
  } catch {
    throw new WardgateError('BACKUP_INVALID', `${file}: the decrypted archive is not readable (not written by wardgate backup)`);
  }
  if (archive?.format !== 'wardgate-backup' || archive.version !== 1 || !Array.isArray(archive.files)) throw new WardgateError('BACKUP_INVALID', `${file}: unknown backup format`);
  for (const required of ['ca/ca.json', archive.storeFile]) {
    if (!archive.files.some((f) => f.path.split(sep).join('/') === required)) throw new WardgateError('BACKUP_INVALID', `${file}: the archive lacks ${required}`);
  }
  return archive;
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
      if (!target.startsWith(staging.path + sep) || f.path.includes('..')) throw new WardgateError('BACKUP_INVALID', `backup names a path outside the data dir: ${f.path}`);
      mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
      writeFileAtomic(target, Buffer.from(f.data, 'base64'), f.mode);
    }
    check?.(staging.path);
    staging.commit();
  } catch (err) {
    staging.abandon();
    throw err;
  }
  return { files: archive.files.length };
}
