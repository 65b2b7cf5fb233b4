/**
 * The corpus: inputs that made the target answer in a way not seen before (a new reply signature,
 * a cheap stand-in for coverage on a black-box peer), kept for further mutation. The campaign offers
 * results an epoch of execs at a time, in exec order (campaign.ts corpusFor), so a campaign's inputs
 * stay a function of its seed however concurrent execs interleave.
 */
import type { Exchange, Protocol } from './exchange.ts';
import type { ExecResult } from './executor.ts';

/** What kind of answer: DICOM PDU types (and abort/reject fields), HL7 MSA-1 codes, and how it ended. */
export function replySignature(protocol: Protocol, result: ExecResult): string {
  const parts: string[] = [result.outcome];
  const r = result.reply;
  if (protocol === 'dicom') {
    let pos = 0;
    while (pos + 6 <= r.length && parts.length < 12) {
      const type = r[pos];
      const length = r.readUInt32BE(pos + 2);
      parts.push(type === 3 || type === 7 ? `${type}:${r[pos + 8] ?? ''}:${r[pos + 9] ?? ''}` : String(type));
      pos += 6 + length;
    }
  } else {
    for (const m of r.toString('latin1').matchAll(/MSA\|([A-Z]{2})/g)) {
      parts.push(m[1]);
      if (parts.length >= 12) break;
    }
  }
  return parts.join(',');
}

export class Corpus {
  private readonly seen = new Set<string>();
  readonly entries: Exchange[] = [];

  /**
   * `maxSignatures`: signatures remembered (each under ~200 characters); the oldest is forgotten first. A
   * target answering with ever-new codes (random MSA values, echoed junk) would otherwise grow the set
   * for the whole campaign; a forgotten signature seen again just re-enters the corpus.
   */
  constructor(private readonly capacity = 256, private readonly maxSignatures = 100_000) {}

  /** Offer one result; kept when its signature is new. Returns whether it was kept. */
  offer(ex: Exchange, signature: string): boolean {
    const key = `${ex.side}:${signature}`;
    if (this.seen.has(key)) return false;
    if (this.seen.size >= this.maxSignatures) this.seen.delete(this.seen.values().next().value!);
    this.seen.add(key);
    if (this.entries.length >= this.capacity) this.entries.shift();
    this.entries.push(ex);
    return true;
  }

  get size(): number {
    return this.entries.length;
  }
}
