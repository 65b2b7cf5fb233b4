/**
 * The unit the fuzzer generates, runs, minimizes and replays: one exchange is one new TCP (or TLS)
 * connection carrying one generated conversation. On the client side the fuzzer connects and sends
 * `chunks`; on the server side the fuzzer's backend answers a benign client's connection (made through
 * the route) with `chunks`, which is how client-side parsers behind outbound routes are attacked.
 */
import { WardgateError } from '../errors.ts';

export type Protocol = 'dicom' | 'hl7';
export type Side = 'client' | 'server';

export interface Exchange {
  protocol: Protocol;
  side: Side;
  /** How it was made (generator and mutations), for reports. */
  label: string;
  /** Bytes written in order; chunk boundaries are write boundaries. */
  chunks: Buffer[];
  /** Before each chunk after the first, wait for the peer to answer (or a short gap): stateful sequences. */
  awaitReply?: boolean;
  /** Half-close after the last chunk (a stream that ends inside a PDU or frame). */
  endAfter?: boolean;
  /**
   * Never read the peer's answers (a sender that ignores its ACKs, an SCU that never reads): what the
   * target writes back piles up on its side, and it must stop reading rather than buffer it.
   */
  neverRead?: boolean;
  /**
   * Write the first chunk alone and the rest only once the peer has accepted it: DICOM, its first
   * answer PDU is an A-ASSOCIATE-AC (a requestor may send nothing but A-ABORT before it, PS3.8 §9.2
   * Sta5); HL7, which has no handshake, its first complete frame. Any other first answer, or none
   * within the first-reply wait, ends the exchange with only the first chunk written. With neverRead,
   * that answer is the only one read.
   */
  awaitAccept?: boolean;
}

export interface ExchangeJson {
  protocol: Protocol;
  side: Side;
  label: string;
  chunks: string[];
  awaitReply?: boolean;
  endAfter?: boolean;
  neverRead?: boolean;
  awaitAccept?: boolean;
}

export function totalBytes(ex: Exchange): number {
  let n = 0;
  for (const c of ex.chunks) n += c.length;
  return n;
}

export function exchangeToJson(ex: Exchange): ExchangeJson {
  const out: ExchangeJson = { protocol: ex.protocol, side: ex.side, label: ex.label, chunks: ex.chunks.map((c) => c.toString('hex')) };
  if (ex.awaitReply) out.awaitReply = true;
  if (ex.endAfter) out.endAfter = true;
  if (ex.neverRead) out.neverRead = true;
  if (ex.awaitAccept) out.awaitAccept = true;
  return out;
}

export function exchangeFromJson(data: unknown, where: string): Exchange {
  const d = data as Partial<ExchangeJson> | null;
  const bad = (field: string) => new WardgateError('FUZZ_REPRODUCER_INVALID', `${where}: field "${field}" is missing or malformed`);
  if (!d || typeof d !== 'object') throw bad('exchange');
  if (d.protocol !== 'dicom' && d.protocol !== 'hl7') throw bad('protocol');
  if (d.side !== 'client' && d.side !== 'server') throw bad('side');
  // No grouping in the pattern: a repeated group recurses per byte and overflows the stack on the
  // megabyte chunks of flood reproducers.
  if (!Array.isArray(d.chunks) || !d.chunks.every((c) => typeof c === 'string' && c.length % 2 === 0 && /^[0-9a-f]*$/i.test(c))) throw bad('chunks');
  return {
    protocol: d.protocol,
    side: d.side,
    label: typeof d.label === 'string' ? d.label : '',
    chunks: d.chunks.map((c) => Buffer.from(c, 'hex')),
    awaitReply: d.awaitReply === true,
    endAfter: d.endAfter === true,
    neverRead: d.neverRead === true,
    // Absent in reproducers written before the field existed: those floods wrote everything at once.
    awaitAccept: d.awaitAccept === true,
  };
}
