/**
 * The HL7 frames recently sent to the gateway's side that answers the fuzzer's client: by the hostile
 * server scripts and by the instrumented backend. The relayed-answer oracle asks, for every frame a
 * client received, whether one of them was sent. Kept as counts of frame keys, added once per stream
 * and taken out when the stream leaves the window: the oracle used to split every recent stream into
 * frames again on every exec (thousands of streams), which held HL7 outbound routes fuzzed as a
 * hostile server to ~90 execs/s (src/fuzz/README.md).
 */
import { framePayloads } from './oracles.ts';
import { FrameCounts, payloadKey } from './frame-keys.ts';

export class SentFrames {
  private readonly counts = new FrameCounts();
  private readonly streams: string[][] = [];
  private head = 0;

  /** `max`: streams kept; the oldest leaves when a newer one comes. */
  constructor(private readonly max = 4096) {}

  /** One stream: what one connection or one hostile script sent, frames in MLLP framing. */
  add(stream: Buffer): void {
    const keys = framePayloads(stream).map(payloadKey);
    this.counts.add(keys);
    this.streams.push(keys);
    if (this.streams.length - this.head > this.max) this.counts.remove(this.streams[this.head++]);
    if (this.head > 1024 && this.head * 2 > this.streams.length) {
      this.streams.splice(0, this.head);
      this.head = 0;
    }
  }

  /** Whether a frame with exactly this payload (between 0x0B and 0x1C) was sent. */
  has(payload: Buffer): boolean {
    return this.counts.has(payload);
  }

  get size(): number {
    return this.streams.length - this.head;
  }
}
