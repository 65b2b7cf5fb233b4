/**
 * Worker-thread entry that runs one fuzzed gateway config (route-target.ts, `thread: true`): the real
 * src/proxy Gateway on its own event loop and V8 isolate inside the fuzzer's process, so the fuzzer
 * and its backend use one core and the gateway the other. An exception the gateway does not catch
 * ends this thread only; the fuzzer gets it as the Worker's 'error' event, stack included, and sees
 * the listener gone, as it would see a crashed process.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Gateway } from '../proxy/gateway.ts';
import type { GatewayConfig } from '../proxy/route-config.ts';

/**
 * A full GC of this thread's isolate, for the memory-per-byte oracle. A worker takes no V8 flags of
 * its own (`--expose-gc` is process-wide), so the flag is set at run time and gc() taken from a fresh
 * context, where V8 installs it.
 */
function collector(): () => void {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (existing) return existing;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

const gc = collector();
const gateway = new Gateway((workerData as { config: GatewayConfig }).config, { log: () => undefined });
await gateway.start();
parentPort!.postMessage({ type: 'ready' });
parentPort!.on('message', async (m: { type?: string; id?: number }) => {
  if (m?.type === 'retained') {
    // As route-runner.ts: V8 lowers `external` for freed buffers only after sweeping: GC, wait, GC.
    // heapUsed and external are this isolate's own, i.e. the gateway's.
    gc();
    await new Promise((r) => setTimeout(r, 50));
    gc();
    const u = process.memoryUsage();
    parentPort!.postMessage({ type: 'retained', id: m.id, bytes: u.heapUsed + u.external });
    return;
  }
  if (m?.type !== 'stop') return;
  await gateway.stop();
  parentPort!.postMessage({ type: 'stopped' });
});
