/**
 * Formats 1 and 2 of `wardgate backup`, read only: one AES-256-GCM message over gzip(JSON) with every file
 * base64-encoded in one string, decrypted whole. They exist only for archives wardgate wrote before format
 * 3, and no archive it wrote can exceed what these limits allow.
 */
import { createDecipheriv, timingSafeEqual } from 'node:crypto';
import { constants as bufferConstants } from 'node:buffer';
import { gunzipSync } from 'node:zlib';
import { WardgateError } from '../errors.ts';
import { deriveKeys, deriveKeyV1 } from './backup-keys.ts';
import { missingCaFiles, pathProblem, STORE_FILE } from './backup-rules.ts';

export const MAGIC_V1 = Buffer.from('WARDGATE-BACKUP-1\n');
export const MAGIC_V2 = Buffer.from('WARDGATE-BACKUP-2\n');
/** Version 2 header after the magic: salt(16), iv(12), body length (uint64 BE), key check(16), GCM tag(16). */
const HEADER_V2 = MAGIC_V2.length + 16 + 12 + 8 + 16 + 16;
const HEADER_V1 = MAGIC_V1.length + 16 + 12 + 16;
/**
 * The archive is one JSON string, and V8 caps a string at this many characters: no archive wardgate wrote
 * decompresses to more, so a body that does is refused before it fills memory (a 3 MB gzip bomb otherwise
 * inflates to 4 GB, the Buffer limit, and the process to several GB).
 */
const MAX_PLAIN = bufferConstants.MAX_STRING_LENGTH;
/** Deflate adds at most 5 bytes per 16 KiB stored block to incompressible input, plus its headers. */
export const MAX_LEGACY_ARCHIVE = HEADER_V2 + MAX_PLAIN + Math.ceil(MAX_PLAIN / 16384) * 5 + 1024;

export interface LegacyFile { path: string; mode: number; data: string }
export interface LegacyArchive { format: 'wardgate-backup'; version: 1; createdAt: string; storeFile: string; files: LegacyFile[] }

export function readLegacyBackup(file: string, buf: Buffer, passphrase: string): LegacyArchive {
  const plain = buf.subarray(0, MAGIC_V1.length).equals(MAGIC_V1) ? decryptV1(file, buf, passphrase) : decryptV2(file, buf, passphrase);
  let json: Buffer;
  try {
    json = gunzipSync(plain, { maxOutputLength: MAX_PLAIN });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new WardgateError('BACKUP_INVALID', `${file} decompresses to more than ${MAX_PLAIN} bytes, more than wardgate backup ever writes`);
    throw new WardgateError('BACKUP_INVALID', `${file}: the decrypted archive is not readable (not written by wardgate backup)`);
  }
  let archive: LegacyArchive;
  try {
    archive = JSON.parse(json.toString('utf8')) as LegacyArchive;
  } catch {
    throw new WardgateError('BACKUP_INVALID', `${file}: the decrypted archive is not readable (not written by wardgate backup)`);
  }
  if (archive?.format !== 'wardgate-backup' || archive.version !== 1 || !Array.isArray(archive.files)) throw new WardgateError('BACKUP_INVALID', `${file}: unknown backup format`);
  assertRestorable(file, archive);
  return archive;
}

/**
 * The whole archive is in memory, so all of it is checked before a restore begins; the restore checks
 * each entry again as it writes (the same rules as for format 3).
 */
function assertRestorable(file: string, archive: LegacyArchive): void {
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
  const missing = missingCaFiles(files.get('ca/ca.json'), (p) => files.has(p));
  if (missing.length > 0) throw invalid(`the CA in it is incomplete, it lacks ${missing.join(', ')}`);
}

function decryptV2(file: string, buf: Buffer, passphrase: string): Buffer {
  if (buf.length < HEADER_V2) throw new WardgateError('BACKUP_INVALID', `${file} is truncated: ${buf.length} bytes, shorter than the ${HEADER_V2}-byte header`);
  let o = MAGIC_V2.length;
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
