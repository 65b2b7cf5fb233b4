/**
 * What a run covers, end to end: a name with several addresses is scanned (and reported) at each of
 * them, and a run larger than --max-hosts is refused before any lookup or connection. Listeners on
 * 127.43.21.0/24; names come from an injected resolver (/etc/hosts is not writable in tests).
 */
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import t, { type Test } from 'tap';
import { isWardgateError } from '../../src/errors.ts';
import { runScan } from '../../src/scan/run.ts';

/** A listener that counts connections and closes each at once (an open port speaking nothing we know). */
async function listener(t: Test, address: string, port = 0) {
  const seen = { accepts: 0 };
  const server = net.createServer((s) => {
    seen.accepts++;
    s.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, resolve);
  });
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { get accepts() { return seen.accepts; }, port: (server.address() as net.AddressInfo).port };
}

const cli = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'test/scan/fixtures/scan-cli.ts', 'scan', ...args], { encoding: 'utf8', timeout: 20000 });

t.test('a name with two addresses: two devices, both probed, both carrying the name', async (t) => {
  const a = await listener(t, '127.43.21.20');
  const b = await listener(t, '127.43.21.21', a.port);
  const resolve = async (name: string) => (name === 'pacs.ward3.test' ? [{ address: '127.43.21.20' }, { address: '127.43.21.21' }] : []);
  const r = await runScan({ targets: ['pacs.ward3.test'], ports: [a.port], resolve, timeoutMs: 500, rate: 1000, format: 'json', out: '/dev/null' });
  t.ok(a.accepts > 0 && b.accepts > 0, `both addresses were connected to (${a.accepts} + ${b.accepts})`);
  t.equal(r.scan.hostsScanned, 2, 'two hosts scanned');
  t.same(r.services.map((s) => [s.address, s.hostname, s.port]), [['127.43.21.20', 'pacs.ward3.test', a.port], ['127.43.21.21', 'pacs.ward3.test', a.port]], 'one entry per address, each with the name');
});

t.test('more addresses than --max-hosts: refused before any lookup or connection', async (t) => {
  const dev = await listener(t, '127.43.21.30');
  const asked: string[] = [];
  const resolve = async (name: string) => {
    asked.push(name);
    return [{ address: '127.43.21.30' }];
  };
  // 65,536 + 256 + 1 addresses: over the default by 257.
  const targets = ['127.43.21.30', '127.43.0.0/16', '127.43.21.0/24', 'pacs.ward3.test'];
  try {
    await runScan({ targets, exclude: ['ct.ward3.test'], resolve, ports: [dev.port], timeoutMs: 300, rate: 1000, format: 'json', out: '/dev/null' });
    t.fail('accepted');
  } catch (err) {
    t.ok(isWardgateError(err, 'SCAN_TARGET_INVALID'), `SCAN_TARGET_INVALID: ${(err as Error).message}`);
    t.match((err as Error).message, /65794 addresses/, 'names the count');
  }
  t.same(asked, [], 'no name (target or --exclude) was resolved');
  t.equal(dev.accepts, 0, 'no connection was made');

  const small = await runScan({ targets: ['127.43.21.30', 'pacs.ward3.test'], maxHosts: 2, resolve, ports: [dev.port], timeoutMs: 300, rate: 1000, format: 'json', out: '/dev/null' });
  t.equal(small.scan.hostsScanned, 2, 'within --max-hosts the run goes ahead');
  for (const bad of [0, -1, 1.5, Number.NaN]) {
    await t.rejects(runScan({ targets: ['127.43.21.30'], maxHosts: bad, ports: [dev.port], format: 'json', out: '/dev/null' }), { code: 'SCAN_OPTION_INVALID' }, `--max-hosts ${bad} refused`);
  }
});

t.test('CLI: --max-hosts in --help, one-line refusal, raised limit', async (t) => {
  const help = cli(['--help']);
  t.match(help.stdout, /--max-hosts <n>.*\(default: 65536\)/s, '--help documents the flag and its default');
  const refused = cli(['127.43.0.0/16', '127.43.21.0/24', '--ports', '1', '--timeout', '200']);
  t.equal(refused.status, 1);
  t.match(refused.stderr, /^wardgate: error \[SCAN_TARGET_INVALID\]: the targets hold 65792 addresses .*--max-hosts[^\n]*\n$/, `one line: ${refused.stderr.trim()}`);
  const dev = await listener(t, '127.43.21.31');
  const tight = cli(['127.43.21.31-32', '--max-hosts', '1', '--ports', String(dev.port), '--timeout', '300']);
  t.match(tight.stderr, /SCAN_TARGET_INVALID.*2 addresses.*1 allowed/, 'a lowered limit applies too');
  const raised = cli(['127.43.21.31-32', '--max-hosts', '2', '--ports', String(dev.port), '--format', 'json', '--timeout', '300']);
  t.equal(raised.status, 0, raised.stderr);
  t.equal(JSON.parse(raised.stdout).scan.hostsScanned, 2);
  // spawnSync blocked this process: the kernel completed the connections, the server accepts them now.
  await new Promise((r) => setTimeout(r, 200));
  t.ok(dev.accepts > 0, `the device was scanned (${dev.accepts} connections)`);
});
