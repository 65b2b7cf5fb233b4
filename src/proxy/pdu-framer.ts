/**
 * Streaming PDU framing for the relay (PS3.8 §9.3.1), without buffering data sets. Every PDU header is
 * checked with protocols/dicom's peekHeader (type, fixed lengths) and against its ceiling: P-DATA-TF
 * against the route's maximum and the receiver's negotiated Maximum Length (PS3.8 D.1), control PDUs
 * against MAX_CONTROL_PDU_LENGTH (Maximum Length governs P-DATA-TF only). Then:
 * - control PDUs (associate, release, abort) and P-DATA-TF whose first PDV carries a command
 *   fragment (PS3.8 E.2 bit 0) are collected whole, so the relay can decode and check them;
 * - other P-DATA-TF PDUs (data set fragments) pass through as slices of the socket's chunks, never
 *   copied, after a check of every PDV header in them (item length within the PDU, context ID, and
 *   that it is a data set fragment: a command PDV behind a data set PDV would reach the peer uninspected).
 * After a throw the stream is unusable: PS3.8 §9.2 has no resynchronisation, the association is aborted.
 */
import { WardgateError } from '../errors.ts';
import { PDU_HEADER_LENGTH, PDU_TYPE, PDV_HEADER_LENGTH, type PduHeader, type RawPdu, peekHeader } from '../protocols/dicom/index.ts';

export type Segment =
  | { kind: 'whole'; pdu: RawPdu }
  /** Bytes of a pass-through P-DATA-TF; `first` marks a slice holding one of its PDV headers (each is reported). */
  | { kind: 'pass'; bytes: Buffer; first?: { contextId: number; last: boolean } };

/** PDU header plus the first PDV item's header: enough to classify a P-DATA-TF. */
const PDATA_PEEK = PDU_HEADER_LENGTH + PDV_HEADER_LENGTH;

/**
 * Ceiling for PDUs collected whole (associate RQ/AC: a few KiB even with many presentation contexts
 * and a user identity token). Data sets never count against it: they stream.
 */
export const MAX_CONTROL_PDU_LENGTH = 256 * 1024;

export interface FramerOptions {
  /** Largest P-DATA-TF PDU length accepted (the route's limit), before any negotiation. */
  maxPduLength: number;
  /** Largest command-carrying P-DATA-TF collected whole (command sets are a few hundred bytes). */
  maxCommandPduLength?: number;
}

export class PduFramer {
  private readonly routeMaxPduLength: number;
  private maxPduLength: number;
  /** Whether maxPduLength is the receiver's negotiated Maximum Length (for the error message). */
  private negotiated = false;
  private readonly maxCommandPduLength: number;
  private head = Buffer.alloc(0);
  /** Value bytes left in the current PDV of a pass-through P-DATA-TF. */
  private passLeft = 0;
  /** Bytes of that P-DATA-TF after its current PDV: further PDV items, each header checked. */
  private pduLeft = 0;
  private pdvHead = Buffer.alloc(0);
  private collect: { header: PduHeader; parts: Buffer[]; have: number } | undefined;
  private failed: WardgateError | undefined;

  constructor(opts: FramerOptions) {
    this.routeMaxPduLength = opts.maxPduLength;
    this.maxPduLength = opts.maxPduLength;
    this.maxCommandPduLength = Math.min(opts.maxCommandPduLength ?? 256 * 1024, opts.maxPduLength);
  }

  /**
   * PS3.8 D.1: the receiver of this stream announced the largest P-DATA-TF variable field (the PDU
   * length) it accepts; a sender must stay within it. 0 means no limit, leaving the route's own.
   */
  limitToNegotiated(receiverMaxLength: number | undefined): void {
    if (!receiverMaxLength) return;
    this.maxPduLength = Math.min(this.routeMaxPduLength, receiverMaxLength);
    this.negotiated = this.maxPduLength === receiverMaxLength;
  }

  /** True between PDUs (nothing of a PDU outstanding). */
  get idle(): boolean {
    return this.passLeft === 0 && this.pduLeft === 0 && !this.collect && this.head.length === 0;
  }

  /**
   * Fast path for the bulk of a data set: when the whole chunk lies inside the body of a
   * pass-through P-DATA-TF, account for it and return true (the caller forwards the chunk as is).
   */
  passThrough(chunk: Buffer): boolean {
    if (this.failed || this.passLeft < chunk.length) return false;
    this.passLeft -= chunk.length;
    return true;
  }

  /**
   * Frame the next bytes of the stream. The framer keeps nothing of `chunk` past the call (what it
   * holds is copied), so the caller may reuse it once the 'pass' segments, slices of it, are written.
   * 'whole' PDUs are always buffers of their own (assembled by concat), never slices of `chunk`: the
   * relay forwards them without holding the read buffer (test/proxy/pooled-reads.test.ts guards this).
   */
  push(chunk: Buffer): Segment[] {
    if (this.failed) throw this.failed;
    try {
      return this.consume(chunk);
    } catch (err) {
      this.failed = err instanceof WardgateError ? err : new WardgateError('PDU_MALFORMED', String(err));
      throw this.failed;
    }
  }

  private consume(chunk: Buffer): Segment[] {
    const out: Segment[] = [];
    let pos = 0;
    while (pos < chunk.length) {
      if (this.passLeft > 0) {
        const take = Math.min(this.passLeft, chunk.length - pos);
        out.push({ kind: 'pass', bytes: chunk.subarray(pos, pos + take) });
        this.passLeft -= take;
        pos += take;
        continue;
      }
      if (this.pduLeft > 0) {
        // The next PDV item header inside a pass-through P-DATA-TF (PS3.8 §9.3.5, Annex E).
        if (this.pduLeft < PDV_HEADER_LENGTH) throw new WardgateError('PDU_MALFORMED', `${this.pduLeft} trailing byte(s) in P-DATA-TF cannot hold a PDV item`);
        const take = Math.min(PDV_HEADER_LENGTH - this.pdvHead.length, chunk.length - pos);
        this.pdvHead = Buffer.concat([this.pdvHead, chunk.subarray(pos, pos + take)]);
        pos += take;
        if (this.pdvHead.length === PDV_HEADER_LENGTH) this.nextPdv(out);
        continue;
      }
      if (this.collect) {
        const c = this.collect;
        const take = Math.min(c.header.totalLength - c.have, chunk.length - pos);
        const part = chunk.subarray(pos, pos + take);
        // Kept past this call only while the PDU is incomplete: then a copy (see push()).
        c.parts.push(c.have + take < c.header.totalLength ? Buffer.from(part) : part);
        c.have += take;
        pos += take;
        if (c.have === c.header.totalLength) {
          const raw = Buffer.concat(c.parts, c.have);
          out.push({ kind: 'whole', pdu: { type: c.header.type, length: c.header.length, body: raw.subarray(PDU_HEADER_LENGTH), raw } });
          this.collect = undefined;
        }
        continue;
      }
      // Header phase: gather 6 bytes (12 for P-DATA-TF) in a small buffer.
      const want = this.head.length >= 1 && this.head[0] === PDU_TYPE.PDataTf ? PDATA_PEEK : PDU_HEADER_LENGTH;
      const take = Math.min(want - this.head.length, chunk.length - pos);
      this.head = Buffer.concat([this.head, chunk.subarray(pos, pos + take)]);
      pos += take;
      const header = peekHeader(this.head, { maxPduLength: 0xffffffff });
      if (!header) continue;
      if (header.type === PDU_TYPE.PDataTf && header.length > this.maxPduLength) {
        const whose = this.negotiated ? "the receiver's negotiated Maximum Length (PS3.8 D.1)" : "the route's maxPduLength";
        throw new WardgateError('PDU_TOO_LARGE', `P-DATA-TF PDU declares length ${header.length}, above the maximum of ${this.maxPduLength}, ${whose}`);
      }
      if (header.type !== PDU_TYPE.PDataTf) {
        if (header.length > MAX_CONTROL_PDU_LENGTH) {
          throw new WardgateError('PDU_TOO_LARGE', `${header.type === PDU_TYPE.AssociateRq ? 'A-ASSOCIATE-RQ' : header.type === PDU_TYPE.AssociateAc ? 'A-ASSOCIATE-AC' : 'PDU'} of length ${header.length} exceeds ${MAX_CONTROL_PDU_LENGTH}`);
        }
        this.startCollect(header, out);
        continue;
      }
      if (header.length < PDV_HEADER_LENGTH) throw new WardgateError('PDU_MALFORMED', `P-DATA-TF PDU length ${header.length} cannot hold a PDV item`);
      if (this.head.length < PDATA_PEEK) continue;
      this.startPData(header, out);
    }
    return out;
  }

  private startCollect(header: PduHeader, out: Segment[]): void {
    const head = this.head;
    this.head = Buffer.alloc(0);
    if (head.length === header.totalLength) {
      out.push({ kind: 'whole', pdu: { type: header.type, length: header.length, body: head.subarray(PDU_HEADER_LENGTH), raw: head } });
      return;
    }
    this.collect = { header, parts: [head], have: head.length };
  }

  private startPData(header: PduHeader, out: Segment[]): void {
    // PS3.8 §9.3.5 / E.1: the first PDV item must fit in the PDU and hold at least its context ID and control header.
    const pdvLength = this.head.readUInt32BE(PDU_HEADER_LENGTH);
    if (pdvLength < 2 || pdvLength > header.length - 4) {
      throw new WardgateError('PDU_MALFORMED', `PDV item length ${pdvLength} does not fit the P-DATA-TF PDU of length ${header.length}`);
    }
    const contextId = this.head[PDU_HEADER_LENGTH + 4];
    const control = this.head[PDU_HEADER_LENGTH + 5];
    if (contextId === 0 || contextId % 2 === 0) {
      // PS3.8 §9.3.2.2: presentation context IDs are odd integers 1..255.
      throw new WardgateError('PDU_MALFORMED', `PDV presentation context ID ${contextId} is not an odd number in 1..255`);
    }
    if ((control & 0x01) !== 0) {
      if (header.length > this.maxCommandPduLength) {
        throw new WardgateError('PDU_TOO_LARGE', `command-carrying P-DATA-TF of length ${header.length} exceeds ${this.maxCommandPduLength}`);
      }
      this.startCollect(header, out);
      return;
    }
    const head = this.head;
    this.head = Buffer.alloc(0);
    out.push({ kind: 'pass', bytes: head, first: { contextId, last: (control & 0x02) !== 0 } });
    this.passLeft = pdvLength - 2;
    this.pduLeft = header.length - 4 - pdvLength;
  }

  /**
   * A later PDV of a pass-through P-DATA-TF: same checks as the first, and it must carry a data set
   * fragment too. Its PDU is already partly forwarded, so a command fragment here could not be
   * collected and inspected (C-MOVE destinations, audit); PS3.8 gives a relay no way to hold back part
   * of a PDU, so the stream is refused (the relay aborts the association).
   */
  private nextPdv(out: Segment[]): void {
    const head = this.pdvHead;
    this.pdvHead = Buffer.alloc(0);
    const pdvLength = head.readUInt32BE(0);
    if (pdvLength < 2 || pdvLength > this.pduLeft - 4) {
      throw new WardgateError('PDU_MALFORMED', `PDV item length ${pdvLength} does not fit the ${this.pduLeft} bytes left in the P-DATA-TF PDU`);
    }
    const contextId = head[4];
    const control = head[5];
    if (contextId === 0 || contextId % 2 === 0) throw new WardgateError('PDU_MALFORMED', `PDV presentation context ID ${contextId} is not an odd number in 1..255`);
    if ((control & 0x01) !== 0) {
      throw new WardgateError('PDU_MALFORMED', 'P-DATA-TF carries a command fragment after a data set fragment; the gateway inspects command sets and cannot once part of their PDU is relayed');
    }
    out.push({ kind: 'pass', bytes: head, first: { contextId, last: (control & 0x02) !== 0 } });
    this.passLeft = pdvLength - 2;
    this.pduLeft -= 4 + pdvLength;
  }
}
