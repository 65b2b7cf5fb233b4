/**
 * What the gateway still holds, for the fuzzer's memory-per-byte oracle: heap + external memory of
 * this isolate after a full GC (a process's in route-runner.ts, a worker thread's in route-worker.ts).
 * V8 lowers its `external` count for freed buffers only after sweeping, some time after gc() returns:
 * read right after one GC, a burst of garbage read buffers looks retained. GC, let sweeping finish, GC.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * gc() for this isolate. A worker thread takes no V8 flags of its own (`--expose-gc` is process-wide),
 * so where gc() is missing the flag is set at run time and gc() taken from a fresh context.
 */
function collector(): () => void {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (existing) return existing;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

let gc: (() => void) | undefined;

export async function retainedBytes(): Promise<number> {
  gc ??= collector();
  gc();
  await new Promise((r) => setTimeout(r, 50));
  gc();
  const u = process.memoryUsage();
  return u.heapUsed + u.external;
}
