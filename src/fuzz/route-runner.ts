/**
 * Child-process entry that runs one fuzzed gateway config (`node --import tsx route-runner.ts FILE`):
 * the real src/proxy Gateway in its own process, so an unhandled exception is a real exit the exit
 * oracle sees, with its stack on stderr. Gateway log lines are dropped unless WARDGATE_FUZZ_LOG=1
 * (tens of thousands of refused inputs would otherwise flood the pipe).
 */
import { Gateway } from '../proxy/gateway.ts';
import { loadGatewayConfig } from '../proxy/route-config.ts';

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: route-runner.ts CONFIG.json\n');
  process.exit(2);
}
const log = process.env.WARDGATE_FUZZ_LOG === '1' ? (m: string) => process.stderr.write(`${m}\n`) : () => undefined;
const gateway = new Gateway(loadGatewayConfig(file), { log });
await gateway.start();
process.stdout.write('route-runner ready\n');
const stop = async () => {
  await gateway.stop();
  process.exit(0);
};
process.once('SIGTERM', () => void stop());
// The fuzzer's memory oracle asks over IPC what the gateway still holds after a full GC.
// V8 lowers its `external` count for freed buffers only after sweeping, some time after gc() returns:
// read right after one GC, a burst of garbage read buffers looks retained. GC, let sweeping finish, GC.
process.on('message', async (m: { type?: string; id?: number }) => {
  if (m?.type !== 'retained') return;
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  await new Promise((r) => setTimeout(r, 50));
  gc?.();
  const u = process.memoryUsage();
  process.send?.({ type: 'retained', id: m.id, bytes: u.heapUsed + u.external });
});
process.once('SIGINT', () => void stop());
