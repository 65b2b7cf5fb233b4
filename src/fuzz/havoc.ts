/**
 * Protocol-blind mutations, applied after the structure-aware ones: byte-level havoc (bit flips,
 * interesting values, inserts, deletes) in the style of AFL's havoc stage, and stream-level edits of
 * an exchange's chunks (truncation, fragmentation, reordering, duplication).
 */
import type { Rng } from './prng.ts';

const INTERESTING_BYTES = [0x00, 0x01, 0x02, 0x0b, 0x0d, 0x1c, 0x20, 0x5c, 0x7f, 0x80, 0xfe, 0xff];
const INTERESTING_32 = [0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

export function havoc(rng: Rng, input: Buffer, rounds = 1 + rng.int(4)): Buffer {
  let buf: Buffer = Buffer.from(input);
  for (let r = 0; r < rounds; r++) {
    if (buf.length === 0) {
      buf = rng.bytes(1 + rng.int(8));
      continue;
    }
    const at = rng.int(buf.length);
    switch (rng.int(8)) {
      case 0: buf[at] ^= 1 << rng.int(8); break;
      case 1: buf[at] = rng.pick(INTERESTING_BYTES); break;
      case 2: buf[at] = rng.int(256); break;
      case 3:
        if (at + 4 <= buf.length) {
          const v = rng.pick(INTERESTING_32);
          if (rng.chance(0.5)) buf.writeUInt32BE(v >>> 0, at);
          else buf.writeUInt32LE(v >>> 0, at);
        }
        break;
      case 4: buf = Buffer.concat([buf.subarray(0, at), rng.bytes(1 + rng.int(16)), buf.subarray(at)]); break;
      case 5: buf = Buffer.concat([buf.subarray(0, at), buf.subarray(Math.min(buf.length, at + 1 + rng.int(16)))]); break;
      case 6: {
        // Duplicate a block: repeated fields and items.
        const len = 1 + rng.int(Math.min(64, buf.length - at));
        buf = Buffer.concat([buf.subarray(0, at), buf.subarray(at, at + len), buf.subarray(at)]);
        break;
      }
      default: buf.fill(rng.chance(0.5) ? 0xff : 0x00, at, Math.min(buf.length, at + 1 + rng.int(8)));
    }
  }
  return buf;
}

export const STREAM_MUTATIONS = ['truncate', 'fragment', 'reorder', 'duplicate', 'drop', 'havoc-one', 'junk-prefix'] as const;

/** One stream-level edit of an exchange's chunks. Returns the chunks and the edit's name. */
export function mutateStream(rng: Rng, chunks: Buffer[]): { chunks: Buffer[]; name: string; end?: boolean } {
  const out = chunks.slice();
  const name = rng.pick(STREAM_MUTATIONS);
  const i = rng.int(Math.max(1, out.length));
  switch (name) {
    case 'truncate': {
      // Cut the stream at a random byte: the peer sees a PDU or frame end early, then EOF.
      const keep = out.slice(0, i + 1);
      const last = keep[keep.length - 1] ?? Buffer.alloc(0);
      keep[keep.length - 1] = last.subarray(0, rng.int(last.length + 1));
      return { chunks: keep, name, end: true };
    }
    case 'fragment': {
      const c = out[i] ?? Buffer.alloc(0);
      const pieces: Buffer[] = [];
      let pos = 0;
      while (pos < c.length) {
        const n = 1 + rng.int(Math.max(1, Math.min(64, c.length - pos)));
        pieces.push(c.subarray(pos, pos + n));
        pos += n;
      }
      out.splice(i, 1, ...pieces);
      return { chunks: out, name };
    }
    case 'reorder': {
      const j = rng.int(out.length);
      [out[i], out[j]] = [out[j], out[i]];
      return { chunks: out, name };
    }
    case 'duplicate':
      out.splice(i, 0, out[i] ?? Buffer.alloc(0));
      return { chunks: out, name };
    case 'drop':
      if (out.length > 1) out.splice(i, 1);
      return { chunks: out, name };
    case 'junk-prefix':
      out.splice(i, 0, rng.bytes(1 + rng.int(12)));
      return { chunks: out, name };
    default:
      out[i] = havoc(rng, out[i] ?? Buffer.alloc(0));
      return { chunks: out, name };
  }
}
