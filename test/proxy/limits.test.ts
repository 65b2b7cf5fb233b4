/**
 * Limits on a running route: a peer over its connection limit is dropped before any byte is relayed,
 * a half-sent MLLP frame is cut off by the frame timeout (slowloris), and others keep being served.
 * A sender that never reads its NAKs (HL7) or answers (DICOM) makes the gateway stop reading, not buffer them.
 */
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { encodeFrame } from '../../src/protocols/hl7/index.ts';
import { withTimeout } from '../protocols/fixtures/helpers.ts';
import { hl7Receiver } from './fixtures/hl7-receiver.ts';
import { freeLoopbackPort, startGateway } from './fixtures/peers.ts';
import { proxyPki } from './fixtures/pki.ts';

const GW = '127.30.9.1';

function closed(s: net.Socket): Promise<number> {
  const at = Date.now();
  return new Promise((resolve) => (s.destroyed ? resolve(0) : s.once('close', () => resolve(Date.now() - at))));
}

t.test('per-peer limit and frame timeout on an outbound HL7 route', async (t) => {
  const pki = await proxyPki(t);
  const cert = await pki.issue('gw', ['gw.klinikum.internal']);
  const receiver = await hl7Receiver(t);
  const inCert = await pki.issue('in', [GW]);
  const inPort = await freeLoopbackPort();
  const outPort = await freeLoopbackPort();
  const gateway = await startGateway(t, {
    routes: [
      { name: 'out', direction: 'outbound', protocol: 'hl7', listen: `${GW}:${outPort}`, upstream: `${GW}:${inPort}`, tls: { cert: [cert.cert], key: [cert.key], ca: pki.trust }, limits: { maxConnectionsPerPeer: 2, frameTimeoutMs: 500 } },
      { name: 'in', direction: 'inbound', protocol: 'hl7', listen: `${GW}:${inPort}`, upstream: `127.0.0.1:${receiver.port}`, tls: { cert: [inCert.cert], key: [inCert.key], ca: pki.trust } },
    ],
  });
  const open = async () => {
    const s = net.connect({ host: GW, port: outPort });
    s.on('error', () => undefined);
    s.resume();
    await new Promise((r) => s.once('connect', r));
    return s;
  };
  const a = await open();
  const b = await open();
  const c = await open();
  t.equal(await withTimeout(closed(c), 5000, 'third connection dropped') >= 0, true, 'third connection from the same peer dropped');
  t.equal(gateway.metrics.get('wardgate_denials_total', { route: 'out', reason: 'limit' }), 1, 'limit denial counted');

  // Slowloris: a frame that never ends is cut off after frameTimeoutMs.
  a.write(Buffer.from([0x0b, 0x4d, 0x53, 0x48]));
  const cut = await withTimeout(closed(a), 5000, 'slow frame cut off');
  t.ok(cut >= 400 && cut < 3000, `unfinished frame cut off after ${cut} ms`);

  // b still works end to end, and a new connection fits now that a's slot is free.
  const acks: Buffer[] = [];
  b.on('data', (d: Buffer) => acks.push(d));
  b.write(encodeFrame('MSH|^~\\&|RIS|R|LIS|L|20261126||ADT^A01|LIM1|P|2.5\r'));
  await withTimeout(new Promise<void>((r) => { const check = () => (Buffer.concat(acks).includes('MSA|AA|LIM1') ? r() : setTimeout(check, 20)); check(); }), 10_000, 'ACK on the surviving connection');
  t.pass('the other connection is still served');
  const d = await open();
  d.destroy();
  b.destroy();
});

t.test('a refused DICOM association frees its per-peer slot as soon as the peer drops the connection (not after ARTIM)', async (t) => {
  const tls = await import('node:tls');
  const { readFileSync } = await import('node:fs');
  const { encodeAssociateRq, SOP_CLASS, TRANSFER_SYNTAX } = await import('../../src/protocols/dicom/index.ts');
  const pki = await proxyPki(t);
  const cert = await pki.issue('gw', [GW]);
  const client = await pki.issue('ct', ['ct1.rad.klinikum.internal']);
  const port = await freeLoopbackPort();
  // Upstream never dialled: every association here is refused by the allow rule.
  await startGateway(t, {
    routes: [{ name: 'din', direction: 'inbound', protocol: 'dicom', listen: `${GW}:${port}`, upstream: `${GW}:9`, tls: { cert: [cert.cert], key: [cert.key], ca: pki.trust },
      allow: [{ callingAeTitles: ['CT01'] }], limits: { maxConnectionsPerPeer: 1, artimTimeoutMs: 5000 } }],
  });
  const rq = encodeAssociateRq({ calledAeTitle: 'PACS', callingAeTitle: 'INTRUDER', presentationContexts: [{ id: 1, abstractSyntax: SOP_CLASS.Verification, transferSyntaxes: [TRANSFER_SYNTAX.ImplicitVrLittleEndian] }], userInformation: { maxLength: 0 } });
  const creds = { ca: readFileSync(pki.trust), cert: readFileSync(client.cert), key: readFileSync(client.key) };
  /** Sends the RQ over mTLS, returns the first byte of the answer (0x03: A-ASSOCIATE-RJ) or -1 when dropped unanswered. */
  const attempt = () => new Promise<number>((resolve) => {
    const s = tls.connect({ host: GW, port, ...creds, checkServerIdentity: () => undefined });
    let first = -1;
    s.on('error', () => undefined);
    // Like the fuzzer (and a crashed SCU): it sends more after the RQ and drops the connection
    // without a TLS close_notify once answered.
    s.once('secureConnect', () => s.write(Buffer.concat([rq, Buffer.alloc(64 * 1024, 0x04)])));
    s.on('data', (d: Buffer) => { if (first < 0) first = d[0]; s.destroy(); });
    s.once('close', () => resolve(first));
  });
  t.equal(await withTimeout(attempt(), 5000, 'first answer'), 0x03, 'the first association is refused with A-ASSOCIATE-RJ');
  await new Promise((r) => setTimeout(r, 100));
  const started = Date.now();
  t.equal(await withTimeout(attempt(), 5000, 'second answer'), 0x03, 'a second association 100 ms later is answered too: the first one no longer holds the slot');
  t.ok(Date.now() - started < 1000, 'and at once');
});

// Found in review: each refused message's NAK (AR) was written whatever the sender's unread backlog,
// so a plaintext sender on an outbound route that never reads made the gateway hold 3 bytes per byte
// it sent (13 MB sent: 40 MB held). The fixture runs the gateway in its own process to measure it.
t.test('an HL7 sender that never reads its NAKs is throttled, not buffered', async (t) => {
  const script = fileURLToPath(new URL('./fixtures/hl7-unread-naks.ts', import.meta.url));
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', script, '40'], { encoding: 'utf8', timeout: 120_000 });
  t.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  t.match(r.stdout, /the gateway stopped reading \(backpressure\) after \d+ MB/);
});

// The same for DICOM: answers relayed to an SCU that never reads must stop the gateway reading the SCP
// (src/proxy/session.ts forward()); the fuzzer's rare unread-echo-flood exec probes the same.
t.test('a DICOM SCU that never reads the answers is throttled, not buffered', async (t) => {
  const script = fileURLToPath(new URL('./fixtures/dicom-unread-echoes.ts', import.meta.url));
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', script, '40'], { encoding: 'utf8', timeout: 120_000 });
  t.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  t.match(r.stdout, /the gateway stopped reading \(backpressure\) after \d+ MB/);
});
