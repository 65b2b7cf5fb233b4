/**
 * Reproducer minimization: delta debugging (Zeller and Hildebrandt, "Simplifying and Isolating
 * Failure-Inducing Input", 2002) first over an exchange's chunks (PDUs, frames), then over the bytes
 * of each chunk, keeping every candidate that still triggers the same oracle at the same location.
 * Each test may restart the target, so the number of tests and the wall time are bounded.
 */
import type { Exchange } from './exchange.ts';

export interface MinimizeBudget {
  maxTests: number;
  deadline: number;
}

export type StillFails = (candidate: Exchange) => Promise<boolean>;

/** ddmin over a list: remove ever smaller slices while the failure persists. */
async function ddmin<T>(items: T[], test: (items: T[]) => Promise<boolean>, budget: { left: () => boolean }): Promise<T[]> {
  let current = items;
  let n = 2;
  while (current.length >= 2 && budget.left()) {
    const size = Math.ceil(current.length / n);
    let reduced = false;
    for (let start = 0; start < current.length && budget.left(); start += size) {
      const complement = [...current.slice(0, start), ...current.slice(start + size)];
      if (complement.length > 0 && (await test(complement))) {
        current = complement;
        n = Math.max(n - 1, 2);
        reduced = true;
        break;
      }
    }
    if (!reduced) {
      if (n >= current.length) break;
      n = Math.min(current.length, n * 2);
    }
  }
  return current;
}

/**
 * DICOM: when a chunk's PDU length field (PS3.8 §9.3.1) was true before a cut, keep it true after, so
 * removing bytes does not turn every candidate into a truncated PDU the peer just waits on. A length
 * that lied keeps lying.
 */
export function repairPduLength(original: Buffer, candidate: Buffer): Buffer {
  if (original.length < 6 || candidate.length < 6 || original.readUInt32BE(2) !== original.length - 6) return candidate;
  const c = Buffer.from(candidate);
  c.writeUInt32BE(c.length - 6, 2);
  return c;
}

export async function minimize(ex: Exchange, stillFails: StillFails, budget: MinimizeBudget): Promise<{ exchange: Exchange; tests: number }> {
  const repair = ex.protocol === 'dicom' ? repairPduLength : (_o: Buffer, c: Buffer) => c;
  let tests = 0;
  const left = () => tests < budget.maxTests && Date.now() < budget.deadline;
  const run = async (candidate: Exchange) => {
    tests++;
    return stillFails(candidate);
  };
  let best: Exchange = { ...ex, chunks: ex.chunks.slice() };
  // 1. Whole chunks (PDUs / frames).
  const chunks = await ddmin(best.chunks, (c) => run({ ...best, chunks: c }), { left });
  best = { ...best, chunks };
  // 2. A shorter tail of the last chunk (truncation often keeps a parser bug), by halving.
  if (best.chunks.length > 0 && left()) {
    const i = best.chunks.length - 1;
    let keep = best.chunks[i].length;
    for (let step = keep >> 1; step >= 1 && left(); step >>= 1) {
      const candidate = { ...best, chunks: best.chunks.map((c, j) => (j === i ? repair(c, c.subarray(0, keep - step)) : c)) };
      if (await run(candidate)) {
        keep -= step;
        best = candidate;
      }
    }
  }
  // 3. Byte runs inside each chunk, coarse to fine (runs of 64, 16, 4 bytes).
  for (let i = 0; i < best.chunks.length && left(); i++) {
    for (const run_ of [64, 16, 4]) {
      let chunk = best.chunks[i];
      for (let at = 0; at + run_ <= chunk.length && left(); ) {
        const shorter = repair(chunk, Buffer.concat([chunk.subarray(0, at), chunk.subarray(at + run_)]));
        const candidate = { ...best, chunks: best.chunks.map((c, j) => (j === i ? shorter : c)) };
        if (await run(candidate)) {
          best = candidate;
          chunk = shorter;
        } else {
          at += run_;
        }
      }
    }
  }
  return { exchange: best, tests };
}
