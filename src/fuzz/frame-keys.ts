/**
 * HL7 frames as map keys, counted: the policy oracle (stream-window.ts, what the fuzzer sent) and the
 * relayed-answer oracle (sent-frames.ts, what was answered) both ask "was a frame with exactly these
 * bytes sent by a stream still kept?", and both add and forget frames a stream at a time.
 */
import { createHash } from 'node:crypto';

/** A frame payload as a map key: the bytes themselves when short, their length and SHA-1 when long. */
export function payloadKey(p: Buffer): string {
  return p.length <= 2048 ? `${p.length}:${p.toString('latin1')}` : `${p.length}#${createHash('sha1').update(p).digest('hex')}`;
}

/** A multiset of frame keys: a key stays while any stream that added it is kept. */
export class FrameCounts {
  private readonly counts = new Map<string, number>();

  add(keys: readonly string[]): void {
    for (const k of keys) this.counts.set(k, (this.counts.get(k) ?? 0) + 1);
  }

  remove(keys: readonly string[]): void {
    for (const k of keys) {
      const n = (this.counts.get(k) ?? 1) - 1;
      if (n <= 0) this.counts.delete(k);
      else this.counts.set(k, n);
    }
  }

  has(payload: Buffer): boolean {
    return this.counts.has(payloadKey(payload));
  }
}
