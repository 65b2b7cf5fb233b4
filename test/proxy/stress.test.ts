/**
 * Abuse resistance of a gateway process (the real CLI, so its RSS is measured alone): 1,000 concurrent
 * mTLS associations held open at once, a stream of malformed PDUs and MLLP frames, denied associations,
 * and slowloris peers. The gateway stays up, stays under 300 MB RSS, and the backend never sees a
 * denied association.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { join } from 'node:path';
import t from 'tap';
import { PduReader, SOP_CLASS, TRANSFER_SYNTAX, decodePdu, encodeAssociateRq, encodeReleaseRq } from '../../src/protocols/dicom/index.ts';
import { encodeFrame } from '../../src/protocols/hl7/index.ts';
import { tempDir } from '../helpers/tmp.ts';
import { mutate, prng, withTimeout } from '../protocols/fixtures/helpers.ts';
import { freeLoopbackPort, waitForPort } from './fixtures/peers.ts';
import { hl7Receiver } from './fixtures/hl7-receiver.ts';
import { proxyPki } from './fixtures/pki.ts';
import { loadScp } from './fixtures/scp.ts';

const GW = '127.30.5.1';
// The real CLI entry (src/cli/main.ts), run through tsx like bin/wardgate.js does.
const ENTRY = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');

function rq(calling: string): Buffer {
  return encodeAssociateRq({
    calledAeTitle: 'PACS',
    callingAeTitle: calling,
    presentationContexts: [{ id: 1, abstractSyntax: SOP_CLASS.Verification, transferSyntaxes: [TRANSFER_SYNTAX.ImplicitVrLittleEndian] }],
    userInformation: { maxLength: 16384, implementationClassUid: '1.2.826.0.1.3680043.10.1234.6' },
  });
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

interface Assoc { socket: tls.TLSSocket; first: Promise<string> }

/** Open an mTLS connection, send an RQ, resolve with the kind of the first PDU answered. */
function associate(port: number, creds: { ca: string; cert: string; key: string }, calling: string): Assoc {
  const socket = tls.connect({ host: GW, port, ca: creds.ca, cert: creds.cert, key: creds.key });
  socket.on('error', () => undefined);
  const reader = new PduReader();
  const first = new Promise<string>((resolve) => {
    socket.once('secureConnect', () => socket.write(rq(calling)));
    socket.on('data', (d: Buffer) => {
      try {
        const pdus = reader.push(d);
        if (pdus.length > 0) resolve(decodePdu(pdus[0]).kind);
      } catch {
        resolve('garbage');
      }
    });
    socket.once('close', () => resolve('closed'));
  });
  return { socket, first };
}

t.test('1,000 concurrent associations, malformed input, denied peers, slowloris: gateway stays up and small', async (t) => {
  const pki = await proxyPki(t);
  const work = tempDir(t);
  const gwCert = await pki.issue('gw', [GW]);
  const client = await pki.issue('load', ['load.klinikum.internal']);
  const creds = { ca: readFileSync(pki.trust, 'utf8'), cert: readFileSync(client.cert, 'utf8'), key: readFileSync(client.key, 'utf8') };
  const scp = await loadScp(t);
  const receiver = await hl7Receiver(t);
  const dicomPort = await freeLoopbackPort();
  const hl7Port = await freeLoopbackPort();
  const metricsPort = await freeLoopbackPort();
  // Generous handshake/ARTIM times on the DICOM route (2 shared cores, 1,000 handshakes: with ARTIM at 2 s a
  // loaded machine aborted 23 of them waiting for the RQ/AC); the slowloris peer (a byte per 200 ms) is still cut
  // off long before its RQ is whole. The HL7 route has a short handshake timeout for the silent-peer check.
  const limits = { maxConnections: 1500, maxConnectionsPerPeer: 1500, artimTimeoutMs: 8000, frameTimeoutMs: 1500, handshakeTimeoutMs: 20_000 };
  const config = join(work, 'gateway.json');
  writeFileSync(config, JSON.stringify({
    routes: [
      { name: 'dicom-in', direction: 'inbound', protocol: 'dicom', listen: `${GW}:${dicomPort}`, upstream: `127.0.0.1:${scp.port}`, tls: { cert: [gwCert.cert], key: [gwCert.key], ca: pki.trust }, allow: [{ callingAeTitles: ['LOAD'] }], limits },
      { name: 'hl7-in', direction: 'inbound', protocol: 'hl7', listen: `${GW}:${hl7Port}`, upstream: `127.0.0.1:${receiver.port}`, tls: { cert: [gwCert.cert], key: [gwCert.key], ca: pki.trust }, limits: { ...limits, maxFrameSize: 4096, handshakeTimeoutMs: 1000 } },
    ],
    metrics: { listen: `${GW}:${metricsPort}` },
  }));
  const gw = spawn(process.execPath, ['--import', 'tsx', ENTRY, 'proxy', '--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  gw.stderr.on('data', (d) => (stderr += d));
  t.teardown(() => { if (gw.exitCode === null) gw.kill('SIGKILL'); });
  await waitForPort(GW, metricsPort, 20_000);
  const baseline = rssMb(gw.pid!);

  // 1,000 associations, all open at the same time.
  const assocs: Assoc[] = [];
  for (let batch = 0; batch < 10; batch++) {
    const started = Array.from({ length: 100 }, () => associate(dicomPort, creds, 'LOAD'));
    assocs.push(...started);
    await Promise.all(started.map((a) => a.first));
  }
  const kinds = await Promise.all(assocs.map((a) => a.first));
  const tally: Record<string, number> = {};
  for (const k of kinds) tally[k] = (tally[k] ?? 0) + 1;
  t.equal(kinds.filter((k) => k === 'A-ASSOCIATE-AC').length, 1000, `1,000 associations accepted: ${JSON.stringify(tally)}`);
  t.equal(scp.open(), 1000, 'all 1,000 held open at the backend at once');
  const peak = rssMb(gw.pid!);
  t.ok(peak < 300, `gateway RSS with 1,000 open associations: ${peak.toFixed(0)} MB (baseline ${baseline.toFixed(0)} MB)`);

  // Denied associations while the load is on.
  const denied = await Promise.all(Array.from({ length: 50 }, () => associate(dicomPort, creds, 'EVIL').first));
  t.equal(denied.filter((k) => k === 'A-ASSOCIATE-RJ').length, 50, 'every denied peer got an A-ASSOCIATE-RJ');

  // Malformed PDUs: mutated RQs, junk, huge length fields.
  const rand = prng(4242);
  const malformed: Promise<string>[] = [];
  for (let i = 0; i < 300; i++) {
    const socket = tls.connect({ host: GW, port: dicomPort, ...creds });
    socket.on('error', () => undefined);
    const bytes = i % 3 === 0 ? rand.bytes(1 + rand.int(64)) : i % 3 === 1 ? mutate(rand, rq('LOAD')) : Buffer.from([0x04, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 2, 1, 0]);
    socket.once('secureConnect', () => socket.end(bytes));
    malformed.push(new Promise((resolve) => { socket.resume(); socket.once('close', () => resolve('closed')); }));
  }
  // Malformed MLLP: junk outside frames, oversized frames, frames without MSH.
  for (let i = 0; i < 100; i++) {
    const socket = tls.connect({ host: GW, port: hl7Port, ...creds });
    socket.on('error', () => undefined);
    const bytes = i % 3 === 0 ? rand.bytes(1 + rand.int(64)) : i % 3 === 1 ? Buffer.concat([Buffer.from([0x0b]), Buffer.alloc(8192, 0x41)]) : encodeFrame('PID|1||x');
    socket.once('secureConnect', () => socket.write(bytes));
    malformed.push(new Promise((resolve) => { socket.resume(); socket.once('close', () => resolve('closed')); }));
  }
  // Slowloris: a TLS peer that trickles an RQ one byte at a time must be cut off by ARTIM.
  const slow = tls.connect({ host: GW, port: dicomPort, ...creds });
  slow.on('error', () => undefined);
  const slowRq = rq('LOAD');
  let sent = 0;
  const drip = setInterval(() => { if (!slow.destroyed && sent < slowRq.length) slow.write(slowRq.subarray(sent, ++sent)); }, 200);
  const slowClosed = new Promise<number>((resolve) => { const at = Date.now(); slow.resume(); slow.once('close', () => resolve(Date.now() - at)); });
  // A plain TCP peer that never starts a TLS handshake is cut off by the handshake timeout.
  const silent = net.connect({ host: GW, port: hl7Port });
  silent.on('error', () => undefined);
  const silentClosed = new Promise<void>((resolve) => { silent.resume(); silent.once('close', () => resolve()); });

  await withTimeout(Promise.all(malformed), 30_000, 'malformed connections closed by the gateway');
  const slowMs = await withTimeout(slowClosed, 20_000, 'slowloris cut off');
  clearInterval(drip);
  // ARTIM is 8 s; the handshake under the 1,000-connection load above takes seconds more on 2 shared cores
  // (15.5 s seen at load 10). Dripping the whole RQ would take ~40 s: being cut off well before is the point.
  t.ok(slowMs < 19_000 && sent < slowRq.length, `slowloris RQ cut off by ARTIM after ${slowMs} ms (${sent} of ${slowRq.length} bytes sent)`);
  await withTimeout(silentClosed, 10_000, 'silent TCP peer cut off by the handshake timeout');
  t.pass('a peer that never handshakes is dropped');

  t.equal(gw.exitCode, null, 'gateway process still running');
  t.notOk(scp.callingAeTitles.includes('EVIL'), 'the backend never saw a denied association');
  t.same([...new Set(scp.callingAeTitles)], ['LOAD'], 'only the allowed calling AE title ever reached the backend');
  t.equal(receiver.messages.length, 0, 'no malformed HL7 reached the receiver');

  // Release the 1,000 and check the gateway still serves.
  for (const a of assocs) a.socket.write(encodeReleaseRq());
  await withTimeout(Promise.all(assocs.map((a) => new Promise((r) => (a.socket.closed ? r(null) : a.socket.once('close', r))))), 30_000, 'releases');
  const after = await associate(dicomPort, creds, 'LOAD').first;
  t.equal(after, 'A-ASSOCIATE-AC', 'a new association still works afterwards');
  const metrics = await (await fetch(`http://${GW}:${metricsPort}/metrics`)).text();
  // Some mutated RQs are still valid ones (a flipped bit in a reserved field): they count too.
  const count = (name: string) => Number(new RegExp(`${name} (\\d+)`).exec(metrics)?.[1] ?? NaN);
  t.ok(count('wardgate_associations_total\\{route="dicom-in"\\}') >= 1001, 'associations counted');
  t.ok(count('wardgate_denials_total\\{reason="policy",route="dicom-in"\\}') >= 50, 'denials counted');
  t.match(metrics, /wardgate_protocol_errors_total\{route="dicom-in"\} \d+/, 'protocol errors counted');
  t.match(metrics, /wardgate_certificate_expiry_seconds\{index="0",route="dicom-in"\} \d+/, 'certificate expiry exported');
  const final = rssMb(gw.pid!);
  t.ok(final < 300, `gateway RSS at the end: ${final.toFixed(0)} MB`);
  gw.kill('SIGTERM');
  t.equal(await withTimeout(new Promise((r) => gw.once('exit', r)), 10_000, 'gateway exit'), 0, `clean exit (stderr tail: ${stderr.slice(-300)})`);
});
