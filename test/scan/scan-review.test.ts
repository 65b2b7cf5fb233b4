/**
 * Flaws found in a review of the scanner's safety and accuracy (task h19), one test each, against
 * real listeners on 127.43.0.0/24 (and ::1), a real TLS peer (openssl s_server with openssl-made
 * certificates) and the real wardgate CLI for the commands the report tells the admin to paste.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { Command } from 'commander';
import t from 'tap';
import { register as registerProxy } from '../../src/cli/proxy.ts';
import { runScan } from '../../src/scan/run.ts';
import { tempDir } from '../helpers/tmp.ts';
import { TestPki } from './fixtures/certs.ts';

const ROOT = join(import.meta.dirname, '..', '..');

/** A device that accepts on an ephemeral port, holds each connection `holdMs`, and counts. */
async function device(host: string, holdMs = 0, address = { open: 0, maxOpen: 0 }) {
  const accepts: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    accepts.push(socket.remoteAddress ?? '?');
    sockets.add(socket);
    address.open++;
    address.maxOpen = Math.max(address.maxOpen, address.open);
    socket.on('error', () => {});
    socket.on('close', () => {
      address.open--;
      sockets.delete(socket);
    });
    setTimeout(() => socket.destroy(), holdMs);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    accepts,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** openssl s_server on HOST with an ephemeral port (it prints "ACCEPT host:port"). */
async function sServer(t: { teardown: (fn: () => void) => void }, host: string, cert: string, key: string): Promise<number> {
  const child: ChildProcess = spawn('openssl', ['s_server', '-accept', `${host}:0`, '-cert', cert, '-key', key], { stdio: ['pipe', 'pipe', 'pipe'] });
  t.teardown(() => {
    child.kill('SIGTERM');
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /ACCEPT \S+:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`openssl s_server exited ${code}: ${out}`)));
  });
}

t.test('an excluded device gets no packet when the target spells its address another way', async (t) => {
  // Found in review: --exclude matched IPv6 targets by their text, so `::ffff:127.43.0.1` (an
  // IPv4-mapped address: Linux connects it over IPv4 to 127.43.0.1) or `0:0:0:0:0:0:0:1` (= ::1)
  // reached a device the admin had put on the do-not-scan list.
  const v4 = await device('127.43.0.1');
  const v6 = await device('::1');
  t.teardown(() => Promise.all([v4.close(), v6.close()]));
  const scan = (targets: string[], ports: number[], exclude: string[]) => runScan({ targets, ports, exclude, timeoutMs: 500, rate: 1000, format: 'json', out: '/dev/null' });

  await scan(['::ffff:127.43.0.1'], [v4.port], ['127.43.0.1']);
  t.equal(v4.accepts.length, 0, 'target ::ffff:127.43.0.1 with --exclude 127.43.0.1: no connection');
  await scan(['0:0:0:0:0:0:0:1'], [v6.port], ['::1']);
  t.equal(v6.accepts.length, 0, 'target 0:0:0:0:0:0:0:1 with --exclude ::1: no connection');
  await scan(['::1'], [v6.port], ['0::1']);
  t.equal(v6.accepts.length, 0, 'target ::1 with --exclude 0::1: no connection');

  // Positive control: the same spellings do reach the devices when nothing is excluded.
  const r = await scan(['::ffff:127.43.0.1', '0:0:0:0:0:0:0:1'], [v4.port, v6.port], []);
  t.ok(v4.accepts.length > 0 && v6.accepts.length > 0, `reachable without --exclude (${v4.accepts.length} + ${v6.accepts.length} connections)`);
  t.same(r.services.map((s) => s.address).sort(), ['127.43.0.1', '::1'], 'reported under the canonical address');
});

t.test('a device named twice (by name and by address) never sees two connections at once', async (t) => {
  // Found in review: the per-host limit (default 1, "a device never sees two scanner connections at
  // once") was a semaphore per target, so `localhost 127.0.0.1` scanned 127.0.0.1 twice in parallel.
  // One counter for the three listeners: they are three ports of one device (127.0.0.1).
  const loopback = { open: 0, maxOpen: 0 };
  const devs = await Promise.all([1, 2, 3].map(() => device('127.0.0.1', 150, loopback)));
  t.teardown(() => Promise.all(devs.map((d) => d.close())));
  const r = await runScan({ targets: ['localhost', '127.0.0.1'], ports: devs.map((d) => d.port), timeoutMs: 1000, rate: 1000, format: 'json', out: '/dev/null' });
  t.equal(r.scan.hostsScanned, 2, 'both the name and the address are scanned (the name check differs)');
  const accepts = devs.reduce((n, d) => n + d.accepts.length, 0);
  t.ok(accepts >= 6, `${accepts} connections in all`);
  t.equal(loopback.maxOpen, 1, 'at most one open connection to the device at any time');
});

t.test('the commands a finding recommends run as written', async (t) => {
  // Found in review: the recommended `wardgate issue ... --key-type ecdsa-p256 --pkcs12 X.p12` fails
  // (CSR_KEY_REJECTED: .p12 bundles are RSA only) and `wardgate proxy inbound ...` lacks the
  // required --ca, so both commands an admin pastes from the report end in an error.
  const dir = tempDir(t, 'wardgate-h19-');
  const pki = new TestPki(join(dir, 'pki'));
  const expired = pki.leaf({ name: 'expired', san: 'IP:127.43.0.4', from: -400, to: -35 });
  const port = await sServer(t, '127.43.0.4', expired.cert, expired.key);
  const r = await runScan({ targets: ['127.43.0.4'], ports: [port], trust: [pki.rootCert], timeoutMs: 800, rate: 1000, format: 'json', out: '/dev/null', gateway: '127.43.0.200', acmeUrl: 'https://127.43.0.201/acme/directory' });
  const finding = r.services[0]?.findings.find((f) => f.id === 'cert-expired');
  t.ok(finding, 'openssl s_server with an expired certificate: cert-expired');
  const commands = [...(finding?.recommendation ?? '').matchAll(/`([^`]+)`/g)].map((m) => m[1]);
  const issue = commands.find((c) => c.startsWith('wardgate issue '));
  const route = commands.find((c) => c.startsWith('wardgate proxy inbound '));
  t.ok(issue && route, `recommendation names both commands: ${commands.join(' | ')}`);

  // `wardgate issue` for real, against a fresh wardgate CA allowed to certify 127.43.0.0/16.
  const env = { ...process.env, WARDGATE_CA_PASSPHRASE: 'h19-review-passphrase', WARDGATE_DATA_DIR: join(dir, 'ca') };
  const cli = (args: string[]) => execFileSync(process.execPath, [join(ROOT, 'bin', 'wardgate.js'), ...args], { cwd: dir, env, stdio: 'pipe', encoding: 'utf8' });
  cli(['init', '--name', 'H19 Review', '--permit-ip', '127.43.0.0/16']);
  try {
    const out = cli(issue!.split(' ').slice(1));
    t.match(out, /issued /, 'wardgate issue succeeded');
    t.ok(existsSync(join(dir, '127.43.0.4.p12')), 'the .p12 the command names was written');
  } catch (err) {
    t.fail(`\`${issue}\` failed: ${(err as { stderr?: string }).stderr ?? (err as Error).message}`);
  }

  // `wardgate proxy inbound` parsed by the real command definition (running it would start a gateway).
  const errors: string[] = [];
  const program = new Command('wardgate').exitOverride().configureOutput({ writeErr: (s) => errors.push(s), writeOut: () => {} });
  registerProxy(program);
  const inbound = program.commands.find((c) => c.name() === 'proxy')!.commands.find((c) => c.name() === 'inbound')!;
  let parsed: Record<string, unknown> | undefined;
  inbound.action((o: Record<string, unknown>) => {
    parsed = o;
  });
  try {
    await program.parseAsync(route!.split(' ').slice(1), { from: 'user' });
  } catch {
    // commander has written the reason to `errors`
  }
  t.same(errors, [], 'wardgate proxy inbound accepts the recommended arguments');
  t.match(parsed, { protocol: 'dicom', listen: '127.43.0.200:2762', upstream: `127.43.0.4:${port}`, acme: 'https://127.43.0.201/acme/directory', clientAuth: 'required' }, 'route as recommended');
});

t.test('a certificate that is not valid yet is reported', async (t) => {
  // Found in review: only notAfter was checked, so a certificate whose notBefore lies in the future
  // (a device clock or CA clock set wrong) was reported healthy although every peer refuses it.
  const dir = tempDir(t, 'wardgate-h19-');
  const pki = new TestPki(join(dir, 'pki'));
  const future = pki.leaf({ name: 'future', san: 'IP:127.43.0.5', from: 3, to: 365 });
  const port = await sServer(t, '127.43.0.5', future.cert, future.key);
  const r = await runScan({ targets: ['127.43.0.5'], ports: [port], trust: [pki.rootCert], timeoutMs: 800, rate: 1000, format: 'json', out: '/dev/null' });
  const s = r.services[0];
  t.equal(s?.tls, true, 'TLS service found');
  t.same(s?.findings.map((f) => f.id), ['cert-not-yet-valid'], 'cert-not-yet-valid, and nothing else');
  const f = s?.findings[0];
  t.equal(f?.severity, 'high');
  t.match(f?.detail ?? '', /^notBefore \d{4}-\d\d-\d\dT/, 'detail names notBefore');
  t.match(f?.recommendation ?? '', /clock|NTP/, 'recommendation says to check the clock');
});

t.test('Ctrl-C: no further host is started, the report so far is written and says it was interrupted', async (t) => {
  // 127.43.9.0/24 on one closed port at 20 connections/s takes ~13 s; SIGINT after the first few hosts.
  const dir = tempDir(t);
  const out = join(dir, 'report.json');
  const entry = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
  const child = spawn(process.execPath, ['--import', 'tsx', entry, 'scan', '127.43.9.0/24', '--ports', '9', '--rate', '20', '--format', 'json', '--out', out], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const started = Date.now();
  await new Promise((r) => setTimeout(r, 2500));
  child.kill('SIGINT');
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  t.equal(code, 130, `exit status 130 (interrupted); stderr: ${stderr.trim()}`);
  t.ok(Date.now() - started < 10_000, 'it stopped instead of scanning the whole /24');
  t.match(stderr, /stopping after the hosts in progress/);
  const report = JSON.parse(readFileSync(out, 'utf8')) as { scan: { interrupted?: string; hostsScanned: number } };
  t.match(report.scan.interrupted, /stopped by the operator after \d+ of about 256 hosts/, 'the report says so');
  t.ok(report.scan.hostsScanned > 0 && report.scan.hostsScanned < 256, `${report.scan.hostsScanned} hosts scanned`);
});
