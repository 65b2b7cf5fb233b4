/**
 * The record stream inside a format 3 archive (backup-stream.ts carries it), tar-like: each file is its
 * header followed by its bytes, so neither side holds more than a piece of a file.
 *   'M' | uint32 BE n | n bytes of JSON {format: "wardgate-backup", version: 3, createdAt, storeFile}
 *   'F' | uint16 BE n | n bytes of UTF-8 path | uint32 BE mode | uint64 BE size | size bytes   (repeated)
 *   'E' | uint32 BE number of 'F' records
 * Nothing may follow 'E'.
 */
import { WardgateError } from '../errors.ts';

const META = 0x4d;
const FILE = 0x46;
const END = 0x45;
const MAX_META = 64 * 1024;
const MAX_PATH = 4096;

export interface ArchiveMeta { format: 'wardgate-backup'; version: 3; createdAt: string; storeFile: string }

export function metaRecord(meta: ArchiveMeta): Buffer {
  const json = Buffer.from(JSON.stringify(meta));
  const head = Buffer.alloc(5);
  head[0] = META;
  head.writeUInt32BE(json.length, 1);
  return Buffer.concat([head, json]);
}

export function fileRecordHeader(path: string, mode: number, size: number): Buffer {
  const p = Buffer.from(path, 'utf8');
  const head = Buffer.alloc(3 + p.length + 12);
  head[0] = FILE;
  head.writeUInt16BE(p.length, 1);
  p.copy(head, 3);
  head.writeUInt32BE(mode, 3 + p.length);
  head.writeBigUInt64BE(BigInt(size), 7 + p.length);
  return head;
}

export function endRecord(files: number): Buffer {
  const b = Buffer.alloc(5);
  b[0] = END;
  b.writeUInt32BE(files, 1);
  return b;
}

/** What a restore does with the records, in stream order; any callback may throw to stop it. */
export interface RecordVisitor {
  meta(meta: ArchiveMeta): void;
  /** Called before any byte of the file; `size` bytes follow in `data` calls, then `fileEnd`. */
  fileStart(path: string, mode: number, size: number): void;
  data(piece: Buffer): void;
  fileEnd(): void;
}

/** Pulls exact byte counts out of a sequence of segments of any size. */
class Pull {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly segments: Iterator<Buffer>, private readonly short: () => Error) {}

  /** True when no byte is left (reads ahead to find out). */
  atEnd(): boolean {
    while (this.buf.length === 0) {
      const r = this.segments.next();
      if (r.done) return true;
      this.buf = r.value;
    }
    return false;
  }

  exact(n: number): Buffer {
    while (this.buf.length < n) {
      const r = this.segments.next();
      if (r.done) throw this.short();
      this.buf = this.buf.length === 0 ? r.value : Buffer.concat([this.buf, r.value]);
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** Hands `n` bytes to `sink` in the pieces they arrive in. */
  stream(n: number, sink: (piece: Buffer) => void): void {
    let left = n;
    while (left > 0) {
      if (this.atEnd()) throw this.short();
      const piece = this.buf.subarray(0, Math.min(left, this.buf.length));
      this.buf = this.buf.subarray(piece.length);
      left -= piece.length;
      sink(piece);
    }
  }
}

/** Parses the record stream, refusing anything the writer above does not produce. */
export function readRecords(segments: Iterator<Buffer>, file: string, visitor: RecordVisitor): { files: number } {
  const invalid = (why: string) => new WardgateError('BACKUP_INVALID', `${file}: ${why} (not written by wardgate backup)`);
  const pull = new Pull(segments, () => invalid('the archive ends inside a record'));
  if (pull.atEnd() || pull.exact(1)[0] !== META) throw invalid('the archive does not begin with its description');
  const metaLength = pull.exact(4).readUInt32BE(0);
  if (metaLength > MAX_META) throw invalid(`the description is ${metaLength} bytes long`);
  let meta: ArchiveMeta;
  try {
    meta = JSON.parse(pull.exact(metaLength).toString('utf8')) as ArchiveMeta;
  } catch {
    throw invalid('the description is not JSON');
  }
  if (meta?.format !== 'wardgate-backup' || meta.version !== 3) throw new WardgateError('BACKUP_INVALID', `${file}: unknown backup format`);
  visitor.meta(meta);
  let files = 0;
  for (;;) {
    const type = pull.exact(1)[0];
    if (type === END) break;
    if (type !== FILE) throw invalid(`unknown record type 0x${type.toString(16)}`);
    const pathLength = pull.exact(2).readUInt16BE(0);
    if (pathLength === 0 || pathLength > MAX_PATH) throw invalid(`an entry has a path of ${pathLength} bytes`);
    const rawPath = pull.exact(pathLength);
    const path = rawPath.toString('utf8');
    if (!Buffer.from(path, 'utf8').equals(rawPath)) throw invalid('an entry\'s path is not UTF-8');
    const fixed = pull.exact(12);
    const size = fixed.readBigUInt64BE(4);
    if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid(`the entry ${JSON.stringify(path)} declares ${size} bytes`);
    visitor.fileStart(path, fixed.readUInt32BE(0), Number(size));
    pull.stream(Number(size), (piece) => visitor.data(piece));
    visitor.fileEnd();
    files++;
  }
  const declared = pull.exact(4).readUInt32BE(0);
  if (declared !== files) throw invalid(`the archive ends after ${files} of ${declared} files`);
  if (!pull.atEnd()) throw invalid('bytes follow the end of the archive');
  return { files };
}
