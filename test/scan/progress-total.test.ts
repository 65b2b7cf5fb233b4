/**
 * The progress total counted a hostname as one host while every address it resolves to is scanned
 * (so the bar ran past 100%, e.g. 3/2). Once a name resolves, the total counts its distinct addresses.
 * Devices on 127.56.3.0/24; names come from an injected resolver.
 */
import net from 'node:net';
import t, { type Test } from 'tap';
import { runScan } from '../../src/scan/run.ts';
import { expandTargets, parseTargetArgs } from '../../src/scan/targets.ts';

async function listener(t: Test, address: string, port = 0): Promise<number> {
  const server = net.createServer((s) => s.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, resolve);
  });
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as net.AddressInfo).port;
}

t.test('a name with three addresses counts three hosts in the progress total', async (t) => {
  const port = await listener(t, '127.56.3.1');
  for (const a of ['127.56.3.20', '127.56.3.21', '127.56.3.22']) await listener(t, a, port);
  // The resolver repeats one address in another spelling: it is one device, counted once.
  const resolve = async (name: string) => (name === 'pacs.ward3.test'
    ? [{ address: '127.56.3.20' }, { address: '127.56.3.21' }, { address: '::ffff:127.56.3.21' }, { address: '127.56.3.22' }]
    : []);
  const calls: Array<[number, number]> = [];
  const r = await runScan({
    targets: ['127.56.3.1', 'pacs.ward3.test'], ports: [port], resolve, timeoutMs: 500, rate: 1000, format: 'json', out: '/dev/null',
    onProgress: (done, total) => calls.push([done, total]),
  });
  t.equal(r.scan.hostsScanned, 4, 'four hosts scanned');
  const last = calls.at(-1)!;
  t.same(last, [4, 4], `the last progress report is 4/4 (reports: ${JSON.stringify(calls)})`);
  t.ok(calls.every(([done, total]) => done <= total), 'done never exceeds the total');
});

t.test('expandTargets reports each resolved name with its distinct addresses, in this shard only', async (t) => {
  const resolve = async (name: string) => (name === 'a.ward3.test'
    ? [{ address: '127.56.3.30' }, { address: '127.56.3.31' }]
    : [{ address: '127.56.3.40' }, { address: '127.56.3.40' }]);
  const specs = parseTargetArgs(['a.ward3.test', 'b.ward3.test']);
  const seen: Array<[string, number]> = [];
  const drain = async (shard?: { index: number; count: number }) => {
    seen.length = 0;
    for await (const _ of expandTargets(specs, { resolve, shard, onResolved: (name, n) => seen.push([name, n]) })) { /* consume */ }
    return [...seen];
  };
  t.same(await drain(), [['a.ward3.test', 2], ['b.ward3.test', 1]]);
  t.same(await drain({ index: 2, count: 2 }), [['b.ward3.test', 1]], 'a name of another shard is not resolved, so not reported');
});
