/**
 * What the fuzzer sent recently, indexed for the policy oracle of a pipelined campaign. The backend
 * records a connection when it closes, which can be a while after the exec that caused it ended (the
 * gateway closes its upstream after the client, or connects upstream late), so every record is checked
 * against the streams of the execs in flight and of those that ended in the last `keepMs`, not just
 * the ones of a fixed group; and a stream stays as long as a backend connection that opened less than
 * `keepMs` after it ended is still open (a loaded gateway may hold one long: its record must still find
 * the stream). Lookups are by the first bytes of a stream: a record's check touches the few streams
 * that begin like it, not the whole window.
 */
import type { Protocol } from './exchange.ts';
import { FrameCounts, payloadKey } from './frame-keys.ts';
import { framePayloads } from './oracles.ts';

/** Bytes whole, or in the pieces they arrived in (a record of a flood is megabytes: compared without joining). */
export type Bytes = Buffer | readonly Buffer[];

function pieces(bytes: Bytes): { parts: readonly Buffer[]; length: number } {
  if (Buffer.isBuffer(bytes)) return { parts: [bytes], length: bytes.length };
  let length = 0;
  for (const b of bytes) length += b.length;
  return { parts: bytes, length };
}

/** The streams a record may come from (see oracles.ts checkBackend). */
export interface SentStreams {
  /** Some stream begins with `bytes` (DICOM: the relay forwarded a prefix of what a peer sent). */
  hasPrefix(bytes: Bytes): boolean;
  /** Some stream carried `payload` as one whole MLLP frame (HL7). */
  hasPayload(payload: Buffer): boolean;
}

/** A plain list of streams (one exec's replay, unit tests). */
export function streamList(streams: readonly Buffer[]): SentStreams {
  return {
    hasPrefix: (bytes) => {
      const { parts, length } = pieces(bytes);
      return length === 0 || streams.some((s) => s.length >= length && commonPrefix(parts, length, [s], length) === length);
    },
    hasPayload: (p) => streams.some((s) => framePayloads(s).some((f) => f.equals(p))),
  };
}

/** Bytes a bucket key covers: DICOM PDU type, length and protocol version plus the start of the called AE title. */
const KEY_BYTES = 16;

interface Entry<T> {
  id: number;
  tag: T | undefined;
  chunks: readonly Buffer[];
  /** Bytes of `chunks` that count: the whole exchange while in flight, then what was really written. */
  length: number;
  key: string | undefined;
  payloads: string[];
  endedAt?: number;
}

/** The first `n` bytes of a chunk list (fewer when it is shorter). */
function head(chunks: readonly Buffer[], n: number): Buffer {
  if (chunks.length > 0 && chunks[0].length >= n) return chunks[0].subarray(0, n);
  const parts: Buffer[] = [];
  let have = 0;
  for (const c of chunks) {
    if (have >= n) break;
    parts.push(c.subarray(0, n - have));
    have += Math.min(c.length, n - have);
  }
  return Buffer.concat(parts, have);
}

/** Length of the common prefix of the first `aLength` bytes of `a` and the first `bLength` bytes of `b`. */
function commonPrefix(a: readonly Buffer[], aLength: number, b: readonly Buffer[], bLength: number): number {
  const end = Math.min(aLength, bLength);
  let pos = 0;
  // Offsets inside the current piece of each list.
  let ai = 0, ao = 0, bi = 0, bo = 0;
  while (pos < end) {
    while (ai < a.length && ao >= a[ai].length) { ai++; ao = 0; }
    while (bi < b.length && bo >= b[bi].length) { bi++; bo = 0; }
    if (ai >= a.length || bi >= b.length) break;
    const x = a[ai];
    const y = b[bi];
    const n = Math.min(x.length - ao, y.length - bo, end - pos);
    if (x.compare(y, bo, bo + n, ao, ao + n) !== 0) {
      for (let i = 0; i < n; i++) if (x[ao + i] !== y[bo + i]) return pos + i;
    }
    pos += n;
    ao += n;
    bo += n;
  }
  return pos;
}

export class StreamWindow<T = unknown> implements SentStreams {
  private readonly buckets = new Map<string, Set<Entry<T>>>();
  /** Streams shorter than a key. */
  private readonly short = new Set<Entry<T>>();
  private readonly byId = new Map<number, Entry<T>>();
  private readonly order: Entry<T>[] = [];
  private orderHead = 0;
  private readonly payloads = new FrameCounts();
  private readonly constants: Buffer[] = [];

  constructor(private readonly protocol: Protocol, private readonly keepMs = 10_000) {}

  get size(): number {
    return this.byId.size;
  }

  /** A stream that may reach the backend at any time (the liveness probe's). */
  addConstant(stream: Buffer): void {
    this.constants.push(stream);
    if (this.protocol === 'hl7') this.payloads.add(framePayloads(stream).map(payloadKey));
  }

  /** An exec starts: everything it may write is expected. */
  add(id: number, chunks: readonly Buffer[], tag?: T): void {
    let length = 0;
    for (const c of chunks) length += c.length;
    const key = length >= KEY_BYTES ? head(chunks, KEY_BYTES).toString('latin1') : undefined;
    const payloads = this.protocol === 'hl7' ? framePayloads(Buffer.concat(chunks as Buffer[], length)).map(payloadKey) : [];
    const e: Entry<T> = { id, tag, chunks, length, key, payloads };
    this.byId.set(id, e);
    this.order.push(e);
    if (key === undefined) this.short.add(e);
    else {
      let b = this.buckets.get(key);
      if (!b) this.buckets.set(key, (b = new Set()));
      b.add(e);
    }
    this.payloads.add(payloads);
  }

  /** The exec ended having written `sentLength` bytes; kept `keepMs` more for records that close late. */
  settle(id: number, sentLength: number, at = Date.now()): void {
    const e = this.byId.get(id);
    if (!e) return;
    e.length = Math.min(e.length, sentLength);
    e.endedAt = at;
  }

  /**
   * Drop streams of execs that ended more than `keepMs` before now and before `openSince`, when the
   * oldest backend connection still open arrived: that connection's exec may have ended any time up to
   * `keepMs` before it arrived.
   */
  evict(now = Date.now(), openSince?: number): void {
    const cutoff = Math.min(now, openSince ?? now) - this.keepMs;
    while (this.orderHead < this.order.length) {
      const e = this.order[this.orderHead];
      if (e.endedAt === undefined || e.endedAt > cutoff) break;
      this.orderHead++;
      this.remove(e);
    }
    if (this.orderHead > 4096 && this.orderHead * 2 > this.order.length) {
      this.order.splice(0, this.orderHead);
      this.orderHead = 0;
    }
  }

  private remove(e: Entry<T>): void {
    this.byId.delete(e.id);
    if (e.key === undefined) this.short.delete(e);
    else {
      const b = this.buckets.get(e.key)!;
      b.delete(e);
      if (b.size === 0) this.buckets.delete(e.key);
    }
    this.payloads.remove(e.payloads);
  }

  /** Streams that may begin with `bytes`: its bucket, or every stream when it is shorter than a key. */
  private *candidates(bytes: Buffer): Iterable<Entry<T>> {
    if (bytes.length >= KEY_BYTES) {
      const b = this.buckets.get(bytes.toString('latin1', 0, KEY_BYTES));
      if (b) yield* b;
      return;
    }
    yield* this.short;
    for (const b of this.buckets.values()) yield* b;
  }

  hasPrefix(bytes: Bytes): boolean {
    const { parts, length } = pieces(bytes);
    if (length === 0) return true;
    if (this.constants.some((s) => s.length >= length && commonPrefix([s], s.length, parts, length) === length)) return true;
    for (const e of this.candidates(head(parts, KEY_BYTES))) if (e.length >= length && commonPrefix(e.chunks, e.length, parts, length) === length) return true;
    return false;
  }

  hasPayload(payload: Buffer): boolean {
    return this.payloads.has(payload);
  }

  /**
   * The exec whose stream shares the longest prefix with `bytes` (the likely culprit of a record):
   * its tag, how many bytes agree and how many it wrote. When no stream begins like `bytes`, the
   * newest exec, with `common` 0 (the record then came from no recent stream at all).
   */
  closest(bytes: Bytes): { tag: T | undefined; common: number; written: number } | undefined {
    const { parts, length } = pieces(bytes);
    let best: { e: Entry<T>; n: number } | undefined;
    for (const e of this.candidates(head(parts, KEY_BYTES))) {
      const n = commonPrefix(e.chunks, e.length, parts, length);
      if (!best || n > best.n) best = { e, n };
    }
    if (best) return { tag: best.e.tag, common: best.n, written: best.e.length };
    const newest = this.order[this.order.length - 1];
    return newest && { tag: newest.tag, common: 0, written: newest.length };
  }
}
