import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { tmpdir } from 'node:os';
import { gunzipSync, gzipSync } from 'node:zlib';
import { WardgateError } from '../errors.ts';
import { writeFileAtomic } from './atomic-file.ts';
import type { Store } from './store.ts';

const MAGIC = Buffer.from('WARDGATE-BACKUP-1\n');
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

function deriveKey(passphrase: string, salt: Buffer): Buffer {
  return scryptSync(passphrase, salt, 32, SCRYPT);
}

/**
 * Writes an encrypted archive of the data dir: the CA directory (certificates and the already encrypted
 * keys) plus a consistent snapshot of the store taken with the store's online backup, so issuance may go
 * on meanwhile. Format: magic, salt(16), iv(12), GCM tag(16), AES-256-GCM(gzip(JSON)); key from scrypt.
 */
export async function writeBackup(opts: { dataDir: string; caDir: string; store: Store; storeFile: string; passphrase: string; out: string }): Promise<{ files: number; bytes: number }> {
  const snapshot = join(tmpdir(), `wardgate-backup-${process.pid}-${randomBytes(4).toString('hex')}.db`);
  try {
    await opts.store.backupTo(snapshot);
    const files: ArchiveFile[] = walk(opts.dataDir)
      .filter((p) => p.startsWith(opts.caDir + sep) || dirname(p) === opts.dataDir && !p.includes('wardgate.db'))
      .map((p) => ({ path: relative(opts.dataDir, p), mode: statSync(p).mode & 0o777, data: readFileSync(p).toString('base64') }));
    files.push({ path: relative(opts.dataDir, opts.storeFile), mode: 0o600, data: readFileSync(snapshot).toString('base64') });
    const archive: Archive = { format: 'wardgate-backup', version: 1, createdAt: new Date().toISOString(), storeFile: relative(opts.dataDir, opts.storeFile), files };
    const plain = gzipSync(Buffer.from(JSON.stringify(archive)));
    const salt = randomBytes(16);
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', deriveKey(opts.passphrase, salt), iv);
    cipher.setAAD(MAGIC);
    const body = Buffer.concat([cipher.update(plain), cipher.final()]);
    const out = Buffer.concat([MAGIC, salt, iv, cipher.getAuthTag(), body]);
    writeFileAtomic(opts.out, out, 0o600);
    return { files: files.length, bytes: out.length };
  } finally {
    rmSync(snapshot, { force: true });
  }
}

export function readBackup(file: string, passphrase: string): Archive {
  const buf = readFileSync(file);
  if (buf.length < MAGIC.length + 44 || !buf.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new WardgateError('BACKUP_INVALID', `${file} is not a wardgate backup (bad header)`);
  }
  let o = MAGIC.length;
  const salt = buf.subarray(o, (o += 16));
  const iv = buf.subarray(o, (o += 12));
  const tag = buf.subarray(o, (o += 16));
  const decipher = createDecipheriv('aes-256-gcm', deriveKey(passphrase, salt), iv);
  decipher.setAAD(MAGIC);
  decipher.setAuthTag(tag);
  let plain: Buffer;
  try {
    plain = Buffer.concat([decipher.update(buf.subarray(o)), decipher.final()]);
  } catch {
    throw new WardgateError('PASSPHRASE_WRONG', `cannot decrypt ${file}: wrong passphrase, or the archive was altered or truncated`);
  }
  const archive = JSON.parse(gunzipSync(plain).toString('utf8')) as Archive;
  if (archive.format !== 'wardgate-backup' || archive.version !== 1) throw new WardgateError('BACKUP_INVALID', `${file}: unknown backup format`);
  return archive;
}

/** Unpacks an archive into an empty (or missing) data dir. */
export function restoreBackup(archive: Archive, dataDir: string): { files: number } {
  if (existsSync(dataDir) && readdirSync(dataDir).length > 0) {
    throw new WardgateError('DATA_DIR_EXISTS', `${dataDir} is not empty; restore only into an empty or new directory`);
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  for (const f of archive.files) {
    const target = join(dataDir, f.path);
    if (!target.startsWith(dataDir + sep) || f.path.includes('..')) throw new WardgateError('BACKUP_INVALID', `backup names a path outside the data dir: ${f.path}`);
    mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
    writeFileAtomic(target, Buffer.from(f.data, 'base64'), f.mode);
  }
  return { files: archive.files.length };
}
