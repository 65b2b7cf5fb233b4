/**
 * The `wardgate proxy` command line, as the interface contract gives it: a one-route inbound gateway
 * started from flags serves a real dcmtk echoscu +tls; bad flags and bad config files fail with one
 * clear line naming the flag or field; SIGHUP (logrotate) starts a new audit file; SIGTERM stops the
 * route cleanly.
 */
import { spawn } from 'node:child_process';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { tempDir } from '../helpers/tmp.ts';
import { withTimeout } from '../protocols/fixtures/helpers.ts';
import { freeLoopbackPort, peerOption, requireBinary, run, startStorescp } from './fixtures/peers.ts';
import { proxyPki } from './fixtures/pki.ts';
import { configFromFlags } from '../../src/cli/proxy.ts';

// The real CLI entry (src/cli/main.ts), run through tsx like bin/wardgate.js does.
const ENTRY = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
const GW = '127.30.3.1';

function wardgate(args: string[], timeoutMs = 20_000) {
  return run(process.execPath, ['--import', 'tsx', ENTRY, 'proxy', ...args], timeoutMs);
}

t.test('flag and config errors: one line naming the problem, non-zero exit', async (t) => {
  const dir = tempDir(t);
  const missingCert = await wardgate(['inbound', '--protocol', 'dicom', '--listen', `${GW}:1`, '--upstream', '127.0.0.1:2', '--ca', 'x.pem']);
  t.equal(missingCert.code, 2, 'usage error exit status');
  t.match(missingCert.output, /error \[CLI_ARGUMENT\]: give --cert PEM --key PEM/, missingCert.output.trim());
  const badAuth = await wardgate(['inbound', '--protocol', 'dicom', '--listen', `${GW}:1`, '--upstream', '127.0.0.1:2', '--ca', 'x', '--cert', 'c', '--key', 'k', '--client-auth', 'maybe']);
  t.equal(badAuth.code, 2);
  t.match(badAuth.output, /--client-auth.*maybe.*required, optional, none/s, 'commander names the allowed values');
  const badProto = await wardgate(['outbound', '--protocol', 'ftp', '--listen', `${GW}:1`, '--upstream', '127.0.0.1:2', '--ca', 'x', '--cert', 'c', '--key', 'k']);
  t.equal(badProto.code, 2);
  const badAddr = await wardgate(['outbound', '--protocol', 'hl7', '--listen', 'nowhere', '--upstream', '127.0.0.1:2', '--ca', 'x', '--cert', 'c', '--key', 'k']);
  t.match(badAddr.output, /error \[CONFIG_INVALID\]: command line: field "routes\.0\.listen"/, badAddr.output.trim());
  const config = join(dir, 'gw.json');
  writeFileSync(config, JSON.stringify({ routes: [{ name: 'a', direction: 'inbound', protocol: 'dicom', listen: `${GW}:1`, upstream: '127.0.0.1:2', tls: { cert: ['c'], key: ['k'], ca: 'x', clientAuth: 'sometimes' } }] }));
  const badConfig = await wardgate(['--config', config]);
  t.equal(badConfig.code, 1);
  t.match(badConfig.output, /error \[CONFIG_INVALID\]: .*gw\.json: field "routes\.0\.tls\.clientAuth" must be one of "required", "optional", "none"/, badConfig.output.trim());
  writeFileSync(config, JSON.stringify({ routes: [{ direction: 'inbound', protocol: 'dicom', listen: `${GW}:1`, upstream: '127.0.0.1:2', tls: { cert: ['c'], key: ['k'], ca: 'x' } }] }));
  t.match((await wardgate(['--config', config])).output, /field "routes\.0\.name" is required/, 'each route needs a name');
  const noKeyFile = await wardgate(['inbound', '--protocol', 'dicom', '--listen', `${GW}:1`, '--upstream', '127.0.0.1:2', '--ca', config, '--cert', join(dir, 'none.pem'), '--key', join(dir, 'none.key')]);
  t.match(noKeyFile.output, /error \[TLS_CREDENTIALS_INVALID\]: cannot read certificate/, noKeyFile.output.trim());
});

t.test('one-route flags: every allow condition and the HL7 default character set, checked like a config file', async (t) => {
  const flags = {
    protocol: 'hl7', listen: `${GW}:2575`, upstream: '127.0.0.1:2576', cert: ['c.pem'], key: ['k.pem'], ca: 'ca.pem', profile: 'bcp195-non-downgrading', name: [],
    allowCallingAe: [], allowCalledAe: [], allowPeer: [], allowPeerAddress: ['127.0.0.9'], allowSendingApp: ['LAB', 'LIS^1.2.3^ISO'], allowSendingFacility: ['KLINIKUM'],
    allowMessageType: ['ORU^R01'], hl7DefaultCharset: '8859/1',
  };
  const config = configFromFlags('outbound', flags);
  t.same(config.routes[0].allow, [{ peerAddresses: ['127.0.0.9'], sendingApplications: ['LAB', 'LIS^1.2.3^ISO'], sendingFacilities: ['KLINIKUM'], messageTypes: ['ORU^R01'] }], 'one rule, all conditions');
  t.equal(config.routes[0].hl7?.defaultCharset, '8859/1');
  t.throws(() => configFromFlags('outbound', { ...flags, allowCallingAe: ['CT1'] }), /allow\.0\.callingAeTitles.*is a DICOM condition/, 'a DICOM flag on an HL7 route is refused, not ignored');
  t.throws(() => configFromFlags('outbound', { ...flags, allowPeer: ['ct1.klinikum.internal'] }), /allow\.0\.peerSans.*outbound route are plaintext: use peerAddresses/);
  t.throws(() => configFromFlags('inbound', { ...flags, protocol: 'dicom', allowSendingApp: ['LAB'], allowMessageType: [], allowSendingFacility: [], hl7DefaultCharset: undefined }), /is an HL7 condition/);
  t.throws(() => configFromFlags('inbound', { ...flags, protocol: 'dicom', allowSendingApp: [], allowMessageType: [], allowSendingFacility: [] }), /field "routes\.0\.hl7" .*applies to HL7 routes only/);
  t.throws(() => configFromFlags('outbound', { ...flags, hl7DefaultCharset: 'UNICODE UTF-16' }), /hl7\.defaultCharset/, 'an unusable character set is named');
  const spawned = await wardgate(['outbound', '--protocol', 'hl7', '--listen', `${GW}:1`, '--upstream', '127.0.0.1:2', '--ca', 'x', '--cert', 'c', '--key', 'k', '--allow-calling-ae', 'CT1']);
  t.equal(spawned.code, 1);
  t.match(spawned.output, /error \[CONFIG_INVALID\]: command line: field "routes\.0\.allow\.0\.callingAeTitles"/, 'the real command line says the same in one line');
});

t.test('wardgate proxy inbound from flags serves echoscu +tls, stops on SIGTERM', peerOption('echoscu', 'storescp'), async (t) => {
  const pki = await proxyPki(t);
  const work = tempDir(t);
  const ec = await pki.issue('gw-ec', [GW]);
  const rsa = await pki.issue('gw-rsa', [GW], 'rsa-2048');
  const device = await pki.issue('ct1', ['ct1.rad.klinikum.internal']);
  const scpPort = await freeLoopbackPort();
  await startStorescp(t, scpPort, work);
  const port = await freeLoopbackPort();
  const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, 'proxy', 'inbound', '--protocol', 'dicom', '--listen', `${GW}:${port}`, '--upstream', `127.0.0.1:${scpPort}`,
    '--cert', ec.cert, '--key', ec.key, '--cert', rsa.cert, '--key', rsa.key, '--ca', pki.trust, '--client-auth', 'required', '--audit-file', join(work, 'audit.log')], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await withTimeout(new Promise<void>((resolve) => {
    const check = () => (/route \S+ inbound dicom on/.test(out) ? resolve() : setTimeout(check, 50));
    check();
  }), 20_000, 'the gateway to start');
  t.match(out, new RegExp(`on ${GW.replace(/\./g, '\\.')}:${port} -> 127\\.0\\.0\\.1:${scpPort}`), 'prints the route');
  const echo = await run(requireBinary('echoscu'), ['-aet', 'CT1', '-aec', 'STORESCP', '+tls', device.key, device.cert, '+cf', pki.trust, GW, String(port)]);
  t.equal(echo.code, 0, `echoscu +tls through the CLI gateway: ${echo.output}`);

  // logrotate: rename, then `kill -HUP` in postrotate. Node's default for SIGHUP is to exit.
  const audit = join(work, 'audit.log');
  renameSync(audit, `${audit}.1`);
  child.kill('SIGHUP');
  await new Promise((r) => setTimeout(r, 300));
  t.equal(child.exitCode, null, 'SIGHUP does not stop the gateway');
  const again = await run(requireBinary('echoscu'), ['-aet', 'CT2', '-aec', 'STORESCP', '+tls', device.key, device.cert, '+cf', pki.trust, GW, String(port)]);
  t.equal(again.code, 0, 'the route still serves after SIGHUP');
  child.kill('SIGTERM');
  t.equal(await withTimeout(exited, 10_000, 'exit after SIGTERM'), 0, 'clean exit on SIGTERM');
  const rotated = readFileSync(`${audit}.1`, 'utf8');
  const current = readFileSync(audit, 'utf8');
  t.match(rotated, /csd_code="110124"[^\n]*UserID="CT1"/, 'records before the rotation stay in the rotated file');
  t.match(current, /csd_code="110124"[^\n]*UserID="CT2"/, 'records after SIGHUP go to a new file at the path');
  t.match(current, /csd_code="110121"/, 'including Application Stop');
  t.notMatch(rotated, /UserID="CT2"/);
});

t.test('wardgate proxy --config FILE --workers 2: workers share the listener, metrics are summed', peerOption('echoscu', 'storescp'), async (t) => {
  const pki = await proxyPki(t);
  const work = tempDir(t);
  const gw = await pki.issue('gw', [GW]);
  const device = await pki.issue('ct1', ['ct1.rad.klinikum.internal']);
  const scpPort = await freeLoopbackPort();
  await startStorescp(t, scpPort, work);
  const port = await freeLoopbackPort();
  const metricsPort = await freeLoopbackPort();
  const config = join(work, 'gw.json');
  writeFileSync(config, JSON.stringify({
    routes: [{ name: 'pacs-in', direction: 'inbound', protocol: 'dicom', listen: `${GW}:${port}`, upstream: `127.0.0.1:${scpPort}`, tls: { cert: [gw.cert], key: [gw.key], ca: pki.trust } }],
    metrics: { listen: `${GW}:${metricsPort}` },
    audit: { file: join(work, 'audit.log') },
  }));
  const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, 'proxy', '--config', config, '--workers', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await withTimeout(new Promise<void>((resolve) => {
    const check = () => (/\(2 workers\)/.test(out) ? resolve() : setTimeout(check, 50));
    check();
  }), 30_000, `the workers to start: ${out}`);
  for (let i = 0; i < 4; i++) {
    const echo = await run(requireBinary('echoscu'), ['-aet', 'CT1', '-aec', 'STORESCP', '+tls', device.key, device.cert, '+cf', pki.trust, GW, String(port)]);
    t.equal(echo.code, 0, `echoscu ${i + 1} through the workers`);
  }
  const text = await (await fetch(`http://${GW}:${metricsPort}/metrics`)).text();
  t.match(text, /wardgate_associations_total\{route="pacs-in"\} 4\n/, 'the primary sums the workers\' counters');
  t.equal((text.match(/# TYPE wardgate_associations_total counter/g) ?? []).length, 1, 'HELP/TYPE once');
  // The primary forwards SIGHUP: every worker starts a new audit file.
  renameSync(join(work, 'audit.log'), join(work, 'audit.log.1'));
  child.kill('SIGHUP');
  await new Promise((r) => setTimeout(r, 300));
  t.equal(child.exitCode, null, 'SIGHUP does not stop the primary');
  for (let i = 0; i < 4; i++) {
    const echo = await run(requireBinary('echoscu'), ['-aet', 'CT2', '-aec', 'STORESCP', '+tls', device.key, device.cert, '+cf', pki.trust, GW, String(port)]);
    t.equal(echo.code, 0, `echoscu ${i + 1} after SIGHUP`);
  }
  await new Promise((r) => setTimeout(r, 200));
  t.equal((readFileSync(join(work, 'audit.log'), 'utf8').match(/csd_code="110124"[^\n]*UserID="CT2"/g) ?? []).length, 4, 'every association after SIGHUP is in the new file, whichever worker took it');
  child.kill('SIGTERM');
  t.equal(await withTimeout(exited, 15_000, 'exit after SIGTERM'), 0, 'primary and workers stop cleanly');
});
