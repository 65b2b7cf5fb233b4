import { setImmediate as nextTurn } from 'node:timers/promises';

/**
 * Heap plus external memory after garbage collection has settled, for fixtures that compare what a
 * process holds before and after a flood (run them with --expose-gc).
 *
 * One gc() is not enough: V8 releases the backing stores of collected Buffers after the sweep, on a
 * later task, so a reading taken right after one gc() still counts megabytes that are already garbage.
 * In dicom-unread-echoes the same state read 9 MB or 19 MB depending on that timing. So collect, let the
 * loop turn, and repeat until two readings agree.
 */
export async function settledMemory(): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('settledMemory needs node --expose-gc');
  let last = Number.NaN;
  for (let round = 0; round < 8; round++) {
    gc();
    await nextTurn();
    const m = process.memoryUsage();
    const now = m.heapUsed + m.external;
    if (Math.abs(now - last) < 256 * 1024) return now;
    last = now;
  }
  return last;
}
