/**
 * Worker-thread entry that runs one fuzzed gateway config (route-target.ts, `thread: true`): the real
 * src/proxy Gateway on its own event loop and V8 isolate inside the fuzzer's process, so the fuzzer
 * and its backend use one core and the gateway the other. An exception the gateway does not catch
 * ends this thread only; the fuzzer gets it as the Worker's 'error' event, stack included, and sees
 * the listener gone, as it would see a crashed process.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Gateway } from '../proxy/gateway.ts';
import type { GatewayConfig } from '../proxy/route-config.ts';
import type { WithoutTls } from '../proxy/route.ts';
import { retainedBytes } from './retained-memory.ts';

const { config, withoutTls } = workerData as { config: GatewayConfig; withoutTls?: WithoutTls };
const gateway = new Gateway(config, { log: () => undefined, withoutTls });
await gateway.start();
parentPort!.postMessage({ type: 'ready' });
parentPort!.on('message', async (m: { type?: string; id?: number }) => {
  if (m?.type === 'retained') {
    // This isolate's heap and external memory: the gateway's own.
    parentPort!.postMessage({ type: 'retained', id: m.id, bytes: await retainedBytes() });
    return;
  }
  if (m?.type !== 'stop') return;
  await gateway.stop();
  parentPort!.postMessage({ type: 'stopped' });
});
