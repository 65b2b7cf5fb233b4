/**
 * Bulk execs (megabytes in one connection: the generators' floods) and the memory-per-byte oracle.
 * A gateway must stream what it forwards (PS3.8 P-DATA is relayed PDU by PDU, HL7 message by
 * message) and stop reading a peer that does not read its answers, so what it still holds after a
 * full GC while the connection is open must not grow with the bytes it took from that connection.
 */
import { type Exchange, type Protocol, totalBytes } from './exchange.ts';
import { type ExecOptions, type ExecResult, runClient } from './executor.ts';
import type { Verdict } from './oracles.ts';
import type { FuzzTarget } from './target.ts';

/** Execs of at least this many bytes are bulk transfers: memory is sampled around them. */
export const BULK_BYTES = 4 * 1024 * 1024;
/** A baseline reading this recent is reused: each costs a route target two full GCs (route-runner.ts). */
const BASELINE_MAX_AGE_MS = 2000;

export function isBulk(ex: Exchange): boolean {
  return totalBytes(ex) >= BULK_BYTES;
}

/** The kind of flood, for sampling: the generator's label ends with it ("... data-flood"). */
function floodKind(ex: Exchange): string {
  return ex.label.slice(ex.label.lastIndexOf(' ') + 1);
}

/**
 * Which of a campaign's bulk execs are measured. A reading costs the target two full GCs, and the
 * measured exec waits for the relay to settle: measuring every flood (1.3 % of DICOM execs) halved
 * the DICOM execs/s of a route fuzz (bench/fuzz, 2026-11-27: 1,233 -> 696/s on a gateway thread).
 * A relay that buffers one kind of flood buffers it every time, so the first flood of each kind is
 * measured at once and later ones at most one per `everyMs`, one at a time; the rest are relayed
 * unmeasured. Replays (triage, confirmation) are always measured.
 */
export class BulkSampler {
  private measuring = false;
  private lastAt = -Infinity;
  private readonly kinds = new Set<string>();

  constructor(private readonly everyMs = 5000) {}

  /** A release callback when this exec is to be measured, undefined when not. */
  claim(ex: Exchange, now = Date.now()): (() => void) | undefined {
    const kind = floodKind(ex);
    if (this.measuring || (this.kinds.has(kind) && now - this.lastAt < this.everyMs)) return undefined;
    this.measuring = true;
    this.kinds.add(kind);
    this.lastAt = now;
    return () => { this.measuring = false; };
  }
}

/**
 * Run one bulk exec with time to relay it all; when `measure` is set and the target can report its
 * memory, sample it before the exec and again while the connection is still open, once the backend
 * stopped receiving.
 */
export async function runBulk(client: Exchange, target: FuzzTarget, exec: ExecOptions, measure = true): Promise<ExecResult> {
  if (!target.retainedMb) return runClient(client, target.endpoint(), exec);
  const bulk = { ...exec, timeoutMs: Math.max(exec.timeoutMs, 20_000), quietMs: Math.max(exec.quietMs, 300), firstReplyMs: Math.max(exec.firstReplyMs, 300) };
  if (!measure) return runClient(client, target.endpoint(), bulk);
  // Any reading taken before this exec's first byte is a valid baseline for it.
  const before = await target.retainedMb(BASELINE_MAX_AGE_MS);
  // No memory to sample (gateway in this process): relay it all, without the settling pauses.
  if (before === undefined) return runClient(client, target.endpoint(), bulk);
  let open: number | undefined;
  const settle = async () => {
    // Let the relay deliver what is in flight, so only what it keeps is counted.
    const backend = target.backend;
    for (let last = -1, i = 0; backend && backend.receivedBytes !== last && i < 50; i++) {
      last = backend.receivedBytes;
      await new Promise((r) => setTimeout(r, 100));
    }
    open = await target.retainedMb!();
  };
  const result = await runClient(client, target.endpoint(), { ...bulk, beforeClose: settle });
  if (open !== undefined) result.retained = { before, open };
  return result;
}

/** Holding at least 3/4 of what one connection delivered (and 9 MiB) means buffering, not streaming. */
export function memoryVerdict(protocol: Protocol, client: Exchange, result: ExecResult): Verdict | undefined {
  const m = result.retained;
  if (!m) return undefined;
  const grownMb = m.open - m.before;
  // What the target took, not what was handed to the socket: one that throttles a sender that never
  // reads (neverRead) takes only part of it, and holding several times that much is the finding.
  const takenMb = result.acceptedBytes / (1024 * 1024);
  // 9 MiB: above what GC timing and the execs running alongside move the reading.
  if (grownMb < 9 || grownMb < (3 * takenMb) / 4) return undefined;
  return { oracle: 'memory', location: `${protocol}: memory grows with the bytes relayed in one association`, detail: `the target retained ${grownMb.toFixed(0)} MiB (after GC) while it took ${takenMb.toFixed(0)} MiB from one connection (${client.label})` };
}
