/**
 * Format 3 of `wardgate backup`: a header, then the body as a sequence of independently authenticated
 * chunks, so that an archive of any size is written and restored in bounded memory (format 2 was one
 * AES-GCM message over one JSON string, which V8 caps at ~512 M characters).
 *
 * The chunking is the STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár, "Online
 * Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance", CRYPTO 2015), as age and Tink's
 * streaming AEAD use it: chunk i is sealed under a nonce and additional data that hold i and whether it is
 * the last chunk, so chunks cannot be reordered, dropped, repeated or cut off after any chunk without a
 * tag failing. Key and nonce prefix are fresh per archive (random salt), so no nonce is ever reused.
 *
 * Header (85 bytes):
 *   magic "WARDGATE-BACKUP-3\n" (18) | scrypt salt (16) | nonce prefix (7) | chunk size (uint32 BE) |
 *   key check (16) | body length (uint64 BE) | length tag (16)
 * The first five fields ("fixed") are additional data of every chunk. Body length and its tag,
 * HMAC-SHA256(mac key, "wardgate backup v3 length" | fixed | length) cut to 16 bytes, are written last (the
 * length is known only then) and let restore tell a truncated or extended file from a damaged one.
 * Chunk i: ciphertext length n (uint32 BE) | AES-256-GCM ciphertext (n) | tag (16), with
 *   nonce = prefix | uint32 BE i | final,  AAD = fixed | uint64 BE i | final  (final: 1 for the last chunk)
 * and the plaintext a segment: encoding (1 byte: 0 stored, 1 raw deflate) | data, at most `chunk size`
 * bytes once decoded. The segments, concatenated, are the record stream of backup-records.ts.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { fstatSync, readSync, writeSync } from 'node:fs';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { WardgateError } from '../errors.ts';
import { deriveKeys } from './backup-keys.ts';

export const MAGIC_V3 = Buffer.from('WARDGATE-BACKUP-3\n');
/** Plaintext per chunk: large enough that tags and nonces cost nothing, small enough to hold a few at once. */
export const CHUNK_SIZE = 1 << 20;
const FIXED = MAGIC_V3.length + 16 + 7 + 4 + 16;
export const HEADER_V3 = FIXED + 8 + 16;
const TAG = 16;
const STORED = 0;
const DEFLATED = 1;
/** Incompressible data (an already compressed blob) is detected on a sample instead of deflating it all. */
const PROBE = 64 * 1024;

export interface HeaderV3 { fixed: Buffer; salt: Buffer; prefix: Buffer; chunkSize: number; check: Buffer; length: bigint; lengthTag: Buffer }

export function parseHeaderV3(buf: Buffer): HeaderV3 {
  let o = MAGIC_V3.length;
  const salt = buf.subarray(o, (o += 16));
  const prefix = buf.subarray(o, (o += 7));
  const chunkSize = buf.readUInt32BE(o); o += 4;
  const check = buf.subarray(o, (o += 16));
  const length = buf.readBigUInt64BE(o); o += 8;
  return { fixed: buf.subarray(0, FIXED), salt, prefix, chunkSize, check, length, lengthTag: buf.subarray(o, o + 16) };
}

function lengthTag(mac: Buffer, fixed: Buffer, length: bigint): Buffer {
  const l = Buffer.alloc(8);
  l.writeBigUInt64BE(length);
  return createHmac('sha256', mac).update('wardgate backup v3 length').update(fixed).update(l).digest().subarray(0, 16);
}

function nonce(prefix: Buffer, index: number, final: boolean): Buffer {
  const n = Buffer.alloc(12);
  prefix.copy(n, 0);
  n.writeUInt32BE(index, 7);
  n[11] = final ? 1 : 0;
  return n;
}

function aad(fixed: Buffer, index: number, final: boolean): Buffer {
  const a = Buffer.alloc(fixed.length + 9);
  fixed.copy(a, 0);
  a.writeBigUInt64BE(BigInt(index), fixed.length);
  a[fixed.length + 8] = final ? 1 : 0;
  return a;
}

/** Deflate level 1: a backup of a large store is bound by CPU otherwise. Undefined: store it as it is. */
function deflated(plain: Buffer): Buffer | undefined {
  const sample = plain.subarray(0, PROBE);
  if (plain.length === 0 || deflateRawSync(sample, { level: 1 }).length >= sample.length * 0.9) return undefined;
  const packed = deflateRawSync(plain, { level: 1 });
  return packed.length < plain.length ? packed : undefined;
}

function writeAll(fd: number, buf: Buffer, position: number): void {
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off, position + off);
}

/**
 * Seals a byte stream into `fd` (positioned writes from offset 0). `push` as much as needed, then `finish`,
 * which writes the last chunk and the length into the header. Holds one chunk of plaintext, in a buffer
 * that is reused: a multi-GB store passes through without garbage piling up faster than it is collected.
 */
export class ChunkSealer {
  private readonly keys: ReturnType<typeof deriveKeys>;
  private readonly fixed: Buffer;
  private readonly prefix = randomBytes(7);
  private readonly chunk = Buffer.alloc(CHUNK_SIZE);
  private filled = 0;
  private index = 0;
  private pos = HEADER_V3;

  constructor(private readonly fd: number, passphrase: string) {
    const salt = randomBytes(16);
    this.keys = deriveKeys(passphrase, salt);
    const size = Buffer.alloc(4);
    size.writeUInt32BE(CHUNK_SIZE);
    this.fixed = Buffer.concat([MAGIC_V3, salt, this.prefix, size, this.keys.check]);
    // Zero length and tag until `finish`: a file cut off before then fails its length tag.
    writeAll(fd, Buffer.concat([this.fixed, Buffer.alloc(HEADER_V3 - FIXED)]), 0);
  }

  /** Copies `data`: the caller may reuse it. */
  push(data: Buffer): void {
    let off = 0;
    while (off < data.length) {
      // A full chunk is sealed only once more data follows: until `finish` it may be the last one.
      if (this.filled === CHUNK_SIZE) {
        this.seal(this.chunk, false);
        this.filled = 0;
      }
      const n = data.copy(this.chunk, this.filled, off);
      this.filled += n;
      off += n;
    }
  }

  /** Returns the archive's size in bytes. */
  finish(): number {
    this.seal(this.chunk.subarray(0, this.filled), true);
    this.filled = 0;
    const length = BigInt(this.pos - HEADER_V3);
    const l = Buffer.alloc(8);
    l.writeBigUInt64BE(length);
    writeAll(this.fd, Buffer.concat([l, lengthTag(this.keys.mac, this.fixed, length)]), FIXED);
    return this.pos;
  }

  private seal(plain: Buffer, final: boolean): void {
    if (this.index > 0xffffffff) throw new WardgateError('BACKUP_INVALID', `a backup holds at most ${0xffffffff} chunks of ${CHUNK_SIZE} bytes`);
    const packed = deflated(plain);
    const data = packed ?? plain;
    const cipher = createCipheriv('aes-256-gcm', this.keys.enc, nonce(this.prefix, this.index, final));
    cipher.setAAD(aad(this.fixed, this.index, final));
    // GCM adds no padding: the ciphertext is as long as the segment, encoding byte and data.
    const length = Buffer.alloc(4);
    length.writeUInt32BE(1 + data.length);
    for (const piece of [length, cipher.update(Buffer.from([packed ? DEFLATED : STORED])), cipher.update(data), cipher.final(), cipher.getAuthTag()]) {
      writeAll(this.fd, piece, this.pos);
      this.pos += piece.length;
    }
    this.index++;
  }
}

function readExactly(fd: number, length: number, position: number, into = Buffer.alloc(length)): Buffer {
  const buf = into.subarray(0, length);
  let off = 0;
  while (off < length) {
    const n = readSync(fd, buf, off, length - off, position + off);
    if (n === 0) break;
    off += n;
  }
  return buf.subarray(0, off);
}

/**
 * Checks a format 3 header against the passphrase and the file's size; returns the keys. `file` names the
 * archive in messages.
 */
export function openHeaderV3(file: string, header: HeaderV3, size: number, passphrase: string): ReturnType<typeof deriveKeys> {
  const keys = deriveKeys(passphrase, header.salt);
  if (!timingSafeEqual(keys.check, header.check)) throw new WardgateError('PASSPHRASE_WRONG', `cannot decrypt ${file}: wrong passphrase (WARDGATE_BACKUP_PASSPHRASE if it was set for the backup, else WARDGATE_CA_PASSPHRASE)`);
  if (!timingSafeEqual(lengthTag(keys.mac, header.fixed, header.length), header.lengthTag)) {
    throw new WardgateError('BACKUP_INVALID', `${file} is incomplete or corrupt: the length in its header fails authentication (the backup that wrote it did not finish, or the header was altered)`);
  }
  const declared = BigInt(HEADER_V3) + header.length;
  if (BigInt(size) < declared) throw new WardgateError('BACKUP_INVALID', `${file} is truncated: ${size} of ${declared} bytes`);
  if (BigInt(size) > declared) throw new WardgateError('BACKUP_INVALID', `${file} has ${BigInt(size) - declared} bytes after the end of the archive: it was altered`);
  // Written by wardgate only with CHUNK_SIZE; a smaller one is accepted, a larger one would size buffers.
  if (header.chunkSize < 1 || header.chunkSize > CHUNK_SIZE) throw new WardgateError('BACKUP_INVALID', `${file}: chunk size ${header.chunkSize} is outside 1..${CHUNK_SIZE}`);
  return keys;
}

/**
 * Yields the decoded segments of a format 3 archive open as `fd`, each only after its tag verified; the
 * generator returns normally only after the final chunk verified. Holds one chunk at a time.
 */
export function* openChunks(file: string, fd: number, header: HeaderV3, keys: ReturnType<typeof deriveKeys>): Generator<Buffer> {
  const corrupt = (index: number, why: string) => new WardgateError('BACKUP_INVALID', `${file} is corrupt: the passphrase is right but chunk ${index} ${why} (altered or damaged)`);
  if (fstatSync(fd).size !== HEADER_V3 + Number(header.length)) throw new WardgateError('BACKUP_INVALID', `${file} changed while it was being restored`);
  const end = HEADER_V3 + Number(header.length);
  let pos = HEADER_V3;
  let index = 0;
  let final = false;
  const frameBuf = Buffer.alloc(header.chunkSize + 1 + TAG);
  while (!final) {
    if (end - pos < 4 + TAG) throw corrupt(index, 'is cut short');
    const n = readExactly(fd, 4, pos).readUInt32BE(0);
    // A stored segment is the largest: encoding byte plus a full chunk.
    if (n > header.chunkSize + 1) throw corrupt(index, `declares ${n} bytes, more than a chunk holds`);
    if (pos + 4 + n + TAG > end) throw corrupt(index, 'runs past the end of the archive');
    final = pos + 4 + n + TAG === end;
    const frame = readExactly(fd, n + TAG, pos + 4, frameBuf);
    if (frame.length !== n + TAG) throw new WardgateError('BACKUP_INVALID', `${file} changed while it was being restored`);
    const decipher = createDecipheriv('aes-256-gcm', keys.enc, nonce(header.prefix, index, final));
    decipher.setAAD(aad(header.fixed, index, final));
    decipher.setAuthTag(frame.subarray(n));
    let segment: Buffer;
    try {
      segment = decipher.update(frame.subarray(0, n));
      decipher.final();
    } catch {
      throw corrupt(index, 'fails authentication');
    }
    yield decodeSegment(file, segment, index, header.chunkSize);
    pos += 4 + n + TAG;
    if (++index > 0xffffffff && !final) throw corrupt(index, 'is past the last chunk a backup can hold');
  }
}

/**
 * The decompression bound: a segment never decodes to more than one chunk, so a small authenticated but
 * crafted archive cannot inflate beyond ~1,000 times its size, and never more than a chunk at once.
 */
function decodeSegment(file: string, segment: Buffer, index: number, chunkSize: number): Buffer {
  if (segment[0] === STORED && segment.length - 1 <= chunkSize) return segment.subarray(1);
  if (segment[0] !== DEFLATED) throw new WardgateError('BACKUP_INVALID', `${file}: chunk ${index} has an unknown encoding (not written by wardgate backup)`);
  try {
    return inflateRawSync(segment.subarray(1), { maxOutputLength: chunkSize });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new WardgateError('BACKUP_INVALID', `${file}: chunk ${index} decompresses to more than ${chunkSize} bytes, more than wardgate backup ever writes`);
    throw new WardgateError('BACKUP_INVALID', `${file}: chunk ${index} does not decompress (not written by wardgate backup)`);
  }
}
