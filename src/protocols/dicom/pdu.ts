/**
 * DICOM upper-layer PDU framing (PS3.8 §9.3.1): every PDU starts with a 6-byte header
 * (type, reserved, 32-bit big-endian length of the rest) and PduReader turns a byte stream into
 * whole PDUs without ever trusting the length field beyond the configured maximum.
 */
import { WardgateError } from '../../errors.ts';

// PS3.8 §9.3.1 Table 9-1 (PDU types).
export const PDU_TYPE = {
  AssociateRq: 0x01,
  AssociateAc: 0x02,
  AssociateRj: 0x03,
  PDataTf: 0x04,
  ReleaseRq: 0x05,
  ReleaseRp: 0x06,
  Abort: 0x07,
} as const;

export type PduType = (typeof PDU_TYPE)[keyof typeof PDU_TYPE];

export const PDU_TYPE_NAMES: Readonly<Record<PduType, string>> = {
  1: 'A-ASSOCIATE-RQ',
  2: 'A-ASSOCIATE-AC',
  3: 'A-ASSOCIATE-RJ',
  4: 'P-DATA-TF',
  5: 'A-RELEASE-RQ',
  6: 'A-RELEASE-RP',
  7: 'A-ABORT',
};

export const PDU_HEADER_LENGTH = 6;

/** Default ceiling on the PDU length field: 4 MiB of body (the whole PDU may be 6 bytes more). */
export const DEFAULT_MAX_PDU_LENGTH = 4 * 1024 * 1024;

/**
 * PS3.8 §9.3.4-§9.3.7: A-ASSOCIATE-RJ, A-RELEASE-RQ/RP and A-ABORT have a fixed length of 4, so a
 * header announcing anything else is rejected before any body byte is buffered.
 */
const FIXED_BODY_LENGTH: Partial<Record<PduType, number>> = { 3: 4, 5: 4, 6: 4, 7: 4 };

export function isPduType(type: number): type is PduType {
  return type >= 0x01 && type <= 0x07;
}

export interface PduHeader {
  type: PduType;
  /** The PDU length field: bytes after the 6-byte header. */
  length: number;
  /** Header plus body. */
  totalLength: number;
}

export interface RawPdu {
  type: PduType;
  length: number;
  /** The bytes after the header (a copy owned by the caller). */
  body: Buffer;
  /** The whole PDU, header included (shares memory with body). */
  raw: Buffer;
}

export interface PduLimits {
  /** Largest accepted value of the PDU length field. */
  maxPduLength?: number;
}

function checkType(type: number): PduType {
  if (!isPduType(type)) {
    throw new WardgateError('PDU_MALFORMED', `unknown PDU type 0x${type.toString(16).padStart(2, '0')} (PS3.8 §9.3.1 defines 0x01..0x07)`);
  }
  return type;
}

/**
 * Read and check the 6-byte header at `offset`. Returns undefined while fewer than 6 bytes are
 * available, but rejects an unknown type as soon as the first byte is there. Throws PDU_TOO_LARGE
 * when the length exceeds the limit, so a stream forwarder can refuse the PDU before reading its body.
 */
export function peekHeader(buf: Buffer, options: PduLimits & { offset?: number } = {}): PduHeader | undefined {
  const offset = options.offset ?? 0;
  const maxPduLength = options.maxPduLength ?? DEFAULT_MAX_PDU_LENGTH;
  if (buf.length <= offset) return undefined;
  const type = checkType(buf[offset]);
  if (buf.length - offset < PDU_HEADER_LENGTH) return undefined;
  const length = buf.readUInt32BE(offset + 2);
  const name = PDU_TYPE_NAMES[type];
  if (length > maxPduLength) {
    throw new WardgateError('PDU_TOO_LARGE', `${name} PDU declares length ${length}, above the maximum of ${maxPduLength}`);
  }
  const fixed = FIXED_BODY_LENGTH[type];
  if (fixed !== undefined && length !== fixed) {
    throw new WardgateError('PDU_MALFORMED', `${name} PDU length is ${length}, PS3.8 fixes it at ${fixed}`);
  }
  return { type, length, totalLength: PDU_HEADER_LENGTH + length };
}

/**
 * Streaming PDU splitter. `push` returns every PDU completed by the chunk. It holds at most one
 * incomplete PDU, never more than `maxPduLength + 6` bytes, and after throwing it stays failed
 * (the association must be aborted: PS3.8 §9.2 offers no resynchronisation).
 */
export class PduReader {
  readonly maxPduLength: number;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private header: PduHeader | undefined;
  private failure: WardgateError | undefined;

  constructor(options: PduLimits = {}) {
    this.maxPduLength = options.maxPduLength ?? DEFAULT_MAX_PDU_LENGTH;
    if (!Number.isSafeInteger(this.maxPduLength) || this.maxPduLength < 0 || this.maxPduLength > 0xffffffff) {
      throw new RangeError(`maxPduLength must be an integer in 0..2^32-1, got ${this.maxPduLength}`);
    }
  }

  /** Bytes held for the PDU in progress. */
  get pendingBytes(): number {
    return this.buffered;
  }

  push(chunk: Buffer): RawPdu[] {
    if (this.failure) throw new WardgateError(this.failure.code, `PDU stream already failed: ${this.failure.message}`);
    try {
      return this.consume(chunk);
    } catch (err) {
      this.failure = err as WardgateError;
      this.chunks = [];
      this.buffered = 0;
      throw err;
    }
  }

  /** Call at end of stream: a partial PDU left over means the peer sent a truncated PDU. */
  finish(): void {
    if (this.failure) throw new WardgateError(this.failure.code, `PDU stream already failed: ${this.failure.message}`);
    if (this.buffered > 0) {
      const what = this.header ? `${PDU_TYPE_NAMES[this.header.type]} PDU of length ${this.header.length}` : 'PDU header';
      throw new WardgateError('PDU_MALFORMED', `stream ended inside a ${what} (${this.buffered} bytes buffered)`);
    }
  }

  private consume(chunk: Buffer): RawPdu[] {
    const out: RawPdu[] = [];
    let pos = 0;
    while (pos < chunk.length) {
      if (!this.header) {
        // Gather just enough for the header; validating it first bounds everything buffered after.
        const need = PDU_HEADER_LENGTH - this.buffered;
        const take = Math.min(need, chunk.length - pos);
        this.chunks.push(chunk.subarray(pos, pos + take));
        this.buffered += take;
        pos += take;
        const head = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.buffered);
        this.chunks = [head];
        this.header = peekHeader(head, { maxPduLength: this.maxPduLength });
        if (!this.header) continue;
      }
      const header = this.header;
      const take = Math.min(header.totalLength - this.buffered, chunk.length - pos);
      if (take > 0) {
        this.chunks.push(chunk.subarray(pos, pos + take));
        this.buffered += take;
        pos += take;
      }
      if (this.buffered === header.totalLength) {
        // Copy: the caller owns the PDU and must not keep the socket's chunks alive through it.
        // Unfilled allocation: the parts below fill every byte.
        const raw = Buffer.allocUnsafe(header.totalLength);
        let at = 0;
        for (const part of this.chunks) at += part.copy(raw, at);
        out.push({ type: header.type, length: header.length, body: raw.subarray(PDU_HEADER_LENGTH), raw });
        this.chunks = [];
        this.buffered = 0;
        this.header = undefined;
      }
    }
    return out;
  }
}
