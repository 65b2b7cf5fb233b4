/**
 * Minimal Lower Layer Protocol framing (HL7 v2 Implementation Guide, Appendix C "MLLP" release 2):
 * <VT 0x0B> payload <FS 0x1C><CR 0x0D>.
 *
 * Policy between frames: whitespace (CR, LF, space, tab) is tolerated and dropped, because many
 * senders end a frame with an extra CR/LF or send keep-alive newlines; any other byte outside a
 * frame is MLLP_FRAME_INVALID. Inside a frame a second 0x0B is invalid (HL7 v2 text never contains
 * it, and accepting it would let a peer hide the start of one message inside another).
 */
import { WardgateError } from '../../errors.ts';

export const MLLP_START = 0x0b;
export const MLLP_END = 0x1c;
export const MLLP_TRAILER = 0x0d;

/** Default ceiling on one frame's payload. */
export const DEFAULT_MAX_FRAME_SIZE = 1024 * 1024;

/**
 * Frame one message. A string is written as latin1 by default, i.e. as the byte string parseMsh and
 * parseAck read, so parse -> ACK -> frame is byte-transparent whatever MSH-18 declares; pass a
 * Buffer (or another encoding) to send text in a specific character set.
 */
export function encodeFrame(message: string | Buffer, encoding: BufferEncoding = 'latin1'): Buffer {
  const payload = typeof message === 'string' ? Buffer.from(message, encoding) : message;
  for (const [name, byte] of [['start block 0x0B', MLLP_START], ['end block 0x1C', MLLP_END]] as const) {
    const at = payload.indexOf(byte);
    if (at >= 0) throw new WardgateError('MLLP_FRAME_INVALID', `message contains the MLLP ${name} at offset ${at} and cannot be framed`);
  }
  const out = Buffer.alloc(payload.length + 3);
  out[0] = MLLP_START;
  payload.copy(out, 1);
  out[payload.length + 1] = MLLP_END;
  out[payload.length + 2] = MLLP_TRAILER;
  return out;
}

function isWhitespace(byte: number): boolean {
  return byte === 0x0d || byte === 0x0a || byte === 0x20 || byte === 0x09;
}

export interface MllpDecoderOptions {
  /** Largest payload accepted, in bytes. */
  maxFrameSize?: number;
}

/**
 * Streaming MLLP decoder. `push` returns the payloads of the frames completed by the chunk. It holds
 * at most `maxFrameSize` bytes of one frame and stays failed after throwing: a byte stream that
 * broke framing cannot be trusted to resynchronise.
 */
export class MllpDecoder {
  readonly maxFrameSize: number;
  private state: 'outside' | 'inside' | 'after-end' = 'outside';
  private parts: Buffer[] = [];
  private size = 0;
  private failure: WardgateError | undefined;

  constructor(options: MllpDecoderOptions = {}) {
    this.maxFrameSize = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
  }

  /** True while part of a frame is buffered. */
  get inFrame(): boolean {
    return this.state !== 'outside';
  }

  push(chunk: Buffer): Buffer[] {
    if (this.failure) throw new WardgateError(this.failure.code, `MLLP stream already failed: ${this.failure.message}`);
    try {
      return this.consume(chunk);
    } catch (err) {
      this.failure = err as WardgateError;
      this.parts = [];
      this.size = 0;
      throw err;
    }
  }

  /** Call at end of stream: a frame left open means the peer closed mid-message. */
  finish(): void {
    if (this.failure) throw new WardgateError(this.failure.code, `MLLP stream already failed: ${this.failure.message}`);
    if (this.state !== 'outside') {
      throw new WardgateError('MLLP_FRAME_INVALID', `stream ended inside an MLLP frame (${this.size} payload bytes, no 0x1C 0x0D trailer)`);
    }
  }

  private consume(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let pos = 0;
    while (pos < chunk.length) {
      if (this.state === 'outside') {
        const byte = chunk[pos++];
        if (byte === MLLP_START) this.state = 'inside';
        else if (!isWhitespace(byte)) {
          throw new WardgateError('MLLP_FRAME_INVALID', `byte 0x${byte.toString(16).padStart(2, '0')} outside an MLLP frame (expected start block 0x0B)`);
        }
      } else if (this.state === 'inside') {
        const endAt = chunk.indexOf(MLLP_END, pos);
        const stop = endAt < 0 ? chunk.length : endAt;
        const segment = chunk.subarray(pos, stop);
        if (segment.indexOf(MLLP_START) >= 0) throw new WardgateError('MLLP_FRAME_INVALID', 'start block 0x0B inside an MLLP frame');
        this.append(segment);
        pos = stop;
        if (endAt >= 0) {
          pos++;
          this.state = 'after-end';
        }
      } else {
        const byte = chunk[pos++];
        if (byte !== MLLP_TRAILER) {
          throw new WardgateError('MLLP_FRAME_INVALID', `end block 0x1C followed by 0x${byte.toString(16).padStart(2, '0')}, not 0x0D`);
        }
        out.push(Buffer.concat(this.parts, this.size));
        this.parts = [];
        this.size = 0;
        this.state = 'outside';
      }
    }
    return out;
  }

  private append(part: Buffer): void {
    if (part.length === 0) return;
    if (this.size + part.length > this.maxFrameSize) {
      throw new WardgateError('MLLP_FRAME_TOO_LARGE', `MLLP frame exceeds the maximum of ${this.maxFrameSize} bytes`);
    }
    // Copy so that a retained payload never pins the socket's larger chunk in memory.
    this.parts.push(Buffer.from(part));
    this.size += part.length;
  }
}
