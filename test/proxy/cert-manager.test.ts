/**
 * ACME-managed gateway certificates against the real Debian `pebble` server: enrollment of an ECDSA
 * and an RSA certificate over http-01, reuse from the state directory, and a renewal hot-swapped into
 * a running inbound route while an association is open, which keeps working. Renewal timing (ARI
 * window, else 1/3 lifetime left) and the RFC 9773 CertID are checked against the RFC's example.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import t from 'tap';
import { PduReader, SOP_CLASS, TRANSFER_SYNTAX, decodePdu, encodeAssociateRq, encodeReleaseRq } from '../../src/protocols/dicom/index.ts';
import { ariCertIdFromParts } from '../../src/proxy/cert-manager/ari.ts';
import { Http01Responder } from '../../src/proxy/cert-manager/http01.ts';
import { CertManager } from '../../src/proxy/cert-manager/manager.ts';
import { renewalTime, retryDelayMs } from '../../src/proxy/cert-manager/renewal.ts';
import { Gateway } from '../../src/proxy/gateway.ts';
import { validateGatewayConfig } from '../../src/proxy/route-config.ts';
import { tempDir } from '../helpers/tmp.ts';
import { withTimeout } from '../protocols/fixtures/helpers.ts';
import { freeLoopbackPort, peerOption } from './fixtures/peers.ts';
import { startPebble } from './fixtures/pebble.ts';
import { proxyPki } from './fixtures/pki.ts';
import { loadScp } from './fixtures/scp.ts';

t.test('renewal time and RFC 9773 CertID', async (t) => {
  const nb = new Date('2026-01-01T00:00:00Z');
  const na = new Date('2026-04-01T00:00:00Z');
  t.equal(renewalTime(nb, na).toISOString(), new Date(na.getTime() - (na.getTime() - nb.getTime()) / 3).toISOString(), 'no ARI: a third of the lifetime left');
  const w = { start: new Date('2026-03-01T00:00:00Z'), end: new Date('2026-03-03T00:00:00Z') };
  t.equal(renewalTime(nb, na, w, () => 0.5).toISOString(), '2026-03-02T00:00:00.000Z', 'ARI: a random point inside the window');
  t.equal(renewalTime(nb, na, { start: w.end, end: w.start }).getTime(), renewalTime(nb, na).getTime(), 'an inverted window is ignored');
  t.equal(renewalTime(nb, na, { start: w.start, end: new Date('2026-05-01T00:00:00Z') }).getTime(), renewalTime(nb, na).getTime(), 'a window ending after expiry is ignored');
  const past = { start: new Date('2025-12-01T00:00:00Z'), end: new Date('2025-12-02T00:00:00Z') };
  t.equal(renewalTime(nb, na, past, () => 0.5).toISOString(), '2026-01-01T01:00:00.000Z', 'a window in the past: renew, but not within the first hour of the certificate');
  t.ok(retryDelayMs(0, () => 0.5) === 60_000 && retryDelayMs(20, () => 0.5) === 3_600_000, 'retry ladder from 1 min to 1 h');
  // RFC 9773 §4.1 example.
  t.equal(ariCertIdFromParts('69885B6B87464041E1B37B847BA0AE2CDE01C8D4', '0087654321'), 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE');
});

function rq(): Buffer {
  return encodeAssociateRq({
    calledAeTitle: 'PACS', callingAeTitle: 'CT1',
    presentationContexts: [{ id: 1, abstractSyntax: SOP_CLASS.Verification, transferSyntaxes: [TRANSFER_SYNTAX.ImplicitVrLittleEndian] }],
    userInformation: { maxLength: 16384, implementationClassUid: '1.2.826.0.1.3680043.10.1234.7' },
  });
}

t.test('pebble: enroll ECDSA+RSA, reuse from disk, renew under an open association', peerOption('pebble', 'pebble-challtestsrv'), async (t) => {
  const pki = await proxyPki(t);
  const pebble = await startPebble(t, pki);
  const state = tempDir(t);
  const name = 'gw.klinikum.internal';
  const log: string[] = [];
  const responder = new Http01Responder({ host: pebble.httpAddress, port: pebble.httpPort });
  t.teardown(() => responder.stop());
  const manager = new CertManager({ directoryUrl: pebble.directoryUrl, names: [name], stateDir: state, http01: responder, directoryCa: readFileSync(pebble.directoryCa, 'utf8'), log: (m) => log.push(m) });
  t.teardown(() => manager.stop());
  const creds = await withTimeout(manager.start(), 60_000, 'enrollment with pebble');
  t.equal(creds.pairs.length, 2, 'two certificates');
  const leaves = creds.pairs.map((p) => new X509Certificate(p.cert));
  t.same(leaves.map((l) => l.publicKey.asymmetricKeyType), ['ec', 'rsa'], 'ECDSA and RSA');
  for (const l of leaves) t.match(l.subjectAltName, /DNS:gw\.klinikum\.internal/, 'certified name');
  const due = manager.schedule();
  for (const [kind, at] of Object.entries(due)) {
    const l = leaves[kind === 'ecdsa' ? 0 : 1];
    const nb = new Date(l.validFrom).getTime();
    const na = new Date(l.validTo).getTime();
    t.ok(Math.abs(at.getTime() - (na - (na - nb) / 3)) < 1000, `${kind} renewal at 1/3 lifetime left (pebble 2.4 has no ARI): ${at.toISOString()}`);
  }

  const again = new CertManager({ directoryUrl: pebble.directoryUrl, names: [name], stateDir: state, http01: responder, directoryCa: readFileSync(pebble.directoryCa, 'utf8') });
  const reloaded = await again.start();
  again.stop();
  t.same(reloaded.pairs.map((p) => p.cert), creds.pairs.map((p) => p.cert), 'a restart reuses the stored certificates');

  // A running inbound route on the ACME certificate; clients trust pebble's root.
  const root = await pebble.issuingRoot();
  const device = await pki.issue('ct1', ['ct1.rad.klinikum.internal']);
  const scp = await loadScp(t);
  const port = await freeLoopbackPort();
  const gateway = new Gateway(validateGatewayConfig({
    routes: [{ name: 'acme-in', direction: 'inbound', protocol: 'dicom', listen: `127.30.6.3:${port}`, upstream: `127.0.0.1:${scp.port}`,
      tls: { ca: pki.trust, acme: { directory: pebble.directoryUrl, names: [name] } } }],
  }, 'test'), { credentials: new Map([['acme-in', creds]]), log: (m) => log.push(m) });
  await gateway.start();
  t.teardown(() => gateway.stop());
  manager.onChange((c) => gateway.route('acme-in')!.updateCredentials(c));

  const connect = () => {
    const socket = tls.connect({ host: '127.30.6.3', port, ca: root, servername: name, cert: readFileSync(device.cert), key: readFileSync(device.key) });
    socket.on('error', () => undefined);
    const reader = new PduReader();
    const pdus: string[] = [];
    const waiters: Array<() => void> = [];
    socket.on('data', (d: Buffer) => { for (const p of reader.push(d)) pdus.push(decodePdu(p).kind); for (const w of waiters.splice(0)) w(); });
    const next = (n: number) => withTimeout(new Promise<string>((resolve) => { const check = () => (pdus.length >= n ? resolve(pdus[n - 1]) : waiters.push(check)); check(); }), 10_000, `PDU ${n}`);
    return { socket, next, ready: new Promise<void>((r) => socket.once('secureConnect', () => r())) };
  };
  const open = connect();
  await open.ready;
  const oldSerial = open.socket.getPeerCertificate().serialNumber;
  open.socket.write(rq());
  t.equal(await open.next(1), 'A-ASSOCIATE-AC', 'association open on the first certificate (verified with pebble\'s root and name)');

  await withTimeout(manager.renewNow(), 60_000, 'renewal');
  t.ok(log.some((m) => /issued ecdsa certificate/.test(m)), 'renewed through pebble');
  const fresh = connect();
  await fresh.ready;
  const newSerial = fresh.socket.getPeerCertificate().serialNumber;
  t.not(newSerial, oldSerial, `new handshakes get the renewed certificate (${oldSerial} -> ${newSerial})`);
  fresh.socket.write(rq());
  t.equal(await fresh.next(1), 'A-ASSOCIATE-AC', 'and associate');

  open.socket.write(encodeReleaseRq());
  t.equal(await open.next(2), 'A-RELEASE-RP', 'the association opened before the renewal still works and releases cleanly');
  fresh.socket.destroy();
  open.socket.destroy();
});

/**
 * `wardgate proxy inbound --acme` against pebble (hosts 127.30.N.1-3), a plaintext storescp behind it;
 * resolves once the CLI printed a line matching `ready`, with its output so far.
 */
async function acmeGatewayCli(t: Parameters<typeof startPebble>[0], net: number, name: string, extra: string[], ready: RegExp) {
  const { spawn } = await import('node:child_process');
  const { writeFileSync } = await import('node:fs');
  const { requireBinary, run, startStorescp } = await import('./fixtures/peers.ts');
  const pki = await proxyPki(t);
  const pebble = await startPebble(t, pki, { host: `127.30.${net}.1`, httpAddress: `127.30.${net}.2` });
  const work = tempDir(t);
  const device = await pki.issue('ct1', ['ct1.rad.klinikum.internal']);
  const scpPort = await freeLoopbackPort();
  await startStorescp(t, scpPort, work);
  const port = await freeLoopbackPort();
  const entry = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
  const child = spawn(process.execPath, ['--import', 'tsx', entry, 'proxy', 'inbound', '--protocol', 'dicom', '--listen', `127.30.${net}.3:${port}`, '--upstream', `127.0.0.1:${scpPort}`, ...extra,
    '--acme', pebble.directoryUrl, '--name', name, '--acme-ca', pebble.directoryCa, '--acme-state', join(work, 'acme'), '--http01-listen', `${pebble.httpAddress}:${pebble.httpPort}`, '--ca', pki.trust], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  const output = { text: '' };
  child.stdout.on('data', (d) => (output.text += d));
  child.stderr.on('data', (d) => (output.text += d));
  await withTimeout(new Promise<void>((resolve) => { const check = () => (ready.test(output.text) ? resolve() : setTimeout(check, 100)); check(); }), 60_000, `the ACME gateway to print ${ready}`);
  const rootFile = join(work, 'pebble-root.pem');
  writeFileSync(rootFile, await pebble.issuingRoot());
  /** echoscu +tls with the device certificate, trusting only pebble's root. */
  const echo = () => run(requireBinary('echoscu'), ['-aet', 'CT1', '-aec', 'STORESCP', '+tls', device.key, device.cert, '+cf', rootFile, `127.30.${net}.3`, String(port)]);
  const stop = async () => {
    child.kill('SIGTERM');
    return withTimeout(new Promise((r) => child.once('exit', r)), 10_000, 'exit');
  };
  return { output, echo, stop };
}

t.test('wardgate proxy inbound --acme URL --name DNS: the CLI enrolls with pebble and serves echoscu +tls', peerOption('pebble', 'pebble-challtestsrv', 'echoscu', 'storescp'), async (t) => {
  const gw = await acmeGatewayCli(t, 7, 'gw2.klinikum.internal', [], /inbound dicom on/);
  t.match(gw.output.text, /acme: issued ecdsa certificate for gw2\.klinikum\.internal/, 'enrolled at start');
  const echo = await gw.echo();
  t.equal(echo.code, 0, `echoscu +tls trusting only pebble's root: ${echo.output}`);
  t.equal(await gw.stop(), 0, 'clean exit');
});

t.test('--acme with --workers 2 on the one-route command line: the primary enrolls once, the workers serve that certificate', peerOption('pebble', 'pebble-challtestsrv', 'echoscu', 'storescp'), async (t) => {
  const gw = await acmeGatewayCli(t, 8, 'gw3.klinikum.internal', ['--workers', '2'], /inbound dicom on .*\(2 workers\)/);
  t.equal(gw.output.text.match(/acme: issued ecdsa certificate for gw3\.klinikum\.internal/g)?.length, 1, 'one enrollment (the primary), not one per worker');
  // Several associations: the kernel spreads them over the workers, each must present pebble's certificate.
  for (let i = 0; i < 6; i++) {
    const echo = await gw.echo();
    t.equal(echo.code, 0, `echoscu +tls #${i + 1} trusting only pebble's root: ${echo.output}`);
  }
  t.equal(await gw.stop(), 0, 'clean exit');
});
