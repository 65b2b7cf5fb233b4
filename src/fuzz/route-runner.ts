/**
 * Child-process entry that runs one fuzzed gateway config (`node --import tsx route-runner.ts FILE
 * [WITHOUT_TLS_JSON]`, the second argument for the TLS-free harness, route.ts WithoutTls):
 * the real src/proxy Gateway in its own process, so an unhandled exception is a real exit the exit
 * oracle sees, with its stack on stderr. Gateway log lines are dropped unless WARDGATE_FUZZ_LOG=1
 * (tens of thousands of refused inputs would otherwise flood the pipe).
 */
import { Gateway } from '../proxy/gateway.ts';
import { loadGatewayConfig } from '../proxy/route-config.ts';
import type { WithoutTls } from '../proxy/route.ts';
import { retainedBytes } from './retained-memory.ts';

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: route-runner.ts CONFIG.json\n');
  process.exit(2);
}
const log = process.env.WARDGATE_FUZZ_LOG === '1' ? (m: string) => process.stderr.write(`${m}\n`) : () => undefined;
const withoutTls = process.argv[3] ? JSON.parse(process.argv[3]) as WithoutTls : undefined;
const gateway = new Gateway(loadGatewayConfig(file), { log, withoutTls });
await gateway.start();
process.stdout.write('route-runner ready\n');
const stop = async () => {
  await gateway.stop();
  process.exit(0);
};
process.once('SIGTERM', () => void stop());
// The fuzzer's memory oracle asks over IPC what the gateway still holds after a full GC.
process.on('message', async (m: { type?: string; id?: number }) => {
  if (m?.type !== 'retained') return;
  process.send?.({ type: 'retained', id: m.id, bytes: await retainedBytes() });
});
process.once('SIGINT', () => void stop());
