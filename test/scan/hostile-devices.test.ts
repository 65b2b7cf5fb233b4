/**
 * Hostile and broken devices against the whole scanner (runScan): fake devices written as small Node
 * servers on 127.52.0.0/24, a real TLS stack (node:tls with an openssl-made certificate) where a TLS
 * peer is needed. A device must not crash the scan, hang it, make it read without bound, or make it
 * report something it did not observe.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import t from 'tap';
import { dicomResponder } from './fixtures/dicom-responder.ts';
import { encodeFrame } from '../../src/protocols/hl7/index.ts';
import { runScan } from '../../src/scan/run.ts';
import type { ScanReport } from '../../src/scan/types.ts';
import { tempDir } from '../helpers/tmp.ts';

const dir = tempDir(t, 'wardgate-hostile-');
execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'dev.key'), '-out', join(dir, 'dev.pem'), '-days', '30', '-subj', '/CN=hostile-device', '-addext', 'subjectAltName=IP:127.52.0.1,IP:127.52.0.2'], { stdio: 'pipe' });
const tlsOptions = { key: readFileSync(join(dir, 'dev.key')), cert: readFileSync(join(dir, 'dev.pem')) };

function listen(server: net.Server, address: string, port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => resolve(server));
  });
}

function closeServer(server: net.Server, sockets: Set<net.Socket>): Promise<void> {
  for (const s of sockets) s.destroy();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A net server that tracks its sockets (so teardown can end them) and ignores socket errors. */
function device(onSocket: (socket: net.Socket) => void) {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    onSocket(socket);
  });
  return { server, sockets, close: () => closeServer(server, sockets) };
}

t.test('a short ServerHello record does not crash the scanner', async (t) => {
  // Found in review: parseServerHello read the ServerHello fields before checking that the record
  // held them, so a TLS device answering the raw ClientHello with a 1-byte handshake record threw a
  // RangeError inside the socket's 'data' handler: an uncaught exception that killed the whole scan.
  // A TLS service for OpenSSL's ClientHello (32-byte session id), a 1-byte "ServerHello" for the
  // scanner's raw hellos (empty session id, offset 43).
  const inner = tls.createServer(tlsOptions, (s) => {
    s.on('error', () => {});
    s.end();
  });
  const innerSockets = new Set<net.Socket>();
  inner.on('connection', (s) => { innerSockets.add(s); s.on('close', () => innerSockets.delete(s)); });
  await listen(inner, '127.52.0.1', 39201);
  const d = device((socket) => {
    socket.once('data', (first) => {
      if (first.length > 43 && first[0] === 0x16 && first[43] === 0) {
        socket.end(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x01, 0x02]));
        return;
      }
      const up = net.connect(39201, '127.52.0.1');
      up.on('error', () => socket.destroy());
      socket.on('close', () => up.destroy());
      up.write(first);
      socket.pipe(up).pipe(socket);
    });
  });
  await listen(d.server, '127.52.0.1', 39200);
  t.teardown(async () => { await d.close(); await closeServer(inner, innerSockets); });
  const out = join(dir, 'short-hello.json');
  await runScan({ targets: ['127.52.0.1'], ports: [39200], timeoutMs: 1500, rate: 1000, format: 'json', out });
  const report = JSON.parse(readFileSync(out, 'utf8')) as ScanReport;
  t.equal(report.services.length, 1, 'the port is reported');
  t.equal(report.services[0].tls, true, 'as TLS');
  t.same(report.services[0].tlsDetails?.legacyVersions, [], 'the malformed answer is not counted as TLS 1.0/1.1');
  t.same(report.services[0].tlsDetails?.weakCiphers, [], 'nor as a weak suite');
});

t.test('a port that speaks DICOM in plaintext and in TLS is not reported as protected', async (t) => {
  // Found in review: when the TLS handshake succeeded the scanner probed only inside TLS and never
  // tried plaintext, so a port that auto-detects TLS (first byte 0x16) and accepts plaintext DICOM as
  // well was reported as TLS-protected DICOM without a plaintext-dicom finding: the report hid that
  // anyone can associate without TLS.
  const inner = tls.createServer(tlsOptions, (s) => {
    s.on('error', () => {});
    dicomResponder(s, 'HOSTILE_1');
  });
  const innerSockets = new Set<net.Socket>();
  inner.on('connection', (s) => { innerSockets.add(s); s.on('close', () => innerSockets.delete(s)); });
  await listen(inner, '127.52.0.2', 39211);
  const d = device((socket) => {
    socket.once('data', (first) => {
      if (first[0] !== 0x16) return dicomResponder(socket, 'HOSTILE_1', first);
      const up = net.connect(39211, '127.52.0.2');
      up.on('error', () => socket.destroy());
      socket.on('close', () => up.destroy());
      up.write(first);
      socket.pipe(up).pipe(socket);
    });
  });
  await listen(d.server, '127.52.0.2', 39210);
  // Control: the same DICOM responder behind TLS only.
  const tlsOnly = tls.createServer(tlsOptions, (s) => {
    s.on('error', () => {});
    dicomResponder(s, 'HOSTILE_1');
  });
  const tlsOnlySockets = new Set<net.Socket>();
  tlsOnly.on('connection', (s) => { tlsOnlySockets.add(s); s.on('error', () => {}); s.on('close', () => tlsOnlySockets.delete(s)); });
  await listen(tlsOnly, '127.52.0.2', 39212);
  t.teardown(async () => { await d.close(); await closeServer(inner, innerSockets); await closeServer(tlsOnly, tlsOnlySockets); });
  const out = join(dir, 'dual.json');
  await runScan({ targets: ['127.52.0.2'], ports: [39210, 39212], timeoutMs: 1500, rate: 1000, format: 'json', out });
  const report = JSON.parse(readFileSync(out, 'utf8')) as ScanReport;
  const dual = report.services.find((s) => s.port === 39210);
  t.ok(dual, 'dual-mode port reported');
  t.equal(dual?.protocol, 'dicom');
  t.equal(dual?.tls, true, 'it does complete a TLS handshake');
  const finding = dual?.findings.find((f) => f.id === 'plaintext-dicom');
  t.ok(finding, 'and it accepts plaintext DICOM: plaintext-dicom is raised');
  t.match(finding?.detail ?? '', /plaintext/, 'the finding says plaintext was observed on this TLS port');
  const only = report.services.find((s) => s.port === 39212);
  t.equal(only?.protocol, 'dicom', 'TLS-only control: DICOM inside TLS');
  t.notOk(only?.findings.some((f) => f.id === 'plaintext-dicom'), 'TLS-only control: no plaintext finding');
});

t.test('peer-supplied text cannot put control characters into the text report', async (t) => {
  // Found in review: the text report (for terminals and e-mail) printed the service note verbatim,
  // and the note quotes what the device sent (here the HL7 message type of its answer), so a device
  // could write terminal escape sequences (retitle the window, clear the screen, hide lines) into
  // the report an admin reads with cat or less -R.
  const evil = '\x1b]0;owned\x07\x1b[2J\x1b[1A\x9b31mFAKE^A01';
  const d = device((socket) => {
    socket.once('data', () => {
      socket.end(encodeFrame(`MSH|^~\\&|EVIL|EVIL|X|Y|20260101||${evil}|1|P|2.5\rMSA|AA|1\r`));
    });
  });
  await listen(d.server, '127.52.0.3', 39220);
  t.teardown(d.close);
  const out = join(dir, 'evil.txt');
  const r = await runScan({ targets: ['127.52.0.3'], ports: [39220], timeoutMs: 1500, rate: 1000, format: 'text', out });
  t.match(r.services[0]?.note ?? '', /FAKE/, 'the device text reached the note (the JSON report keeps it, JSON-escaped)');
  const text = readFileSync(out, 'utf8');
  t.notMatch(text, /[\x00-\x09\x0b-\x1f\x7f-\x9f]/, 'no control character other than newline in the text report');
  t.match(text, /FAKE/, 'the text is still shown, escaped');
});

t.test('peer-supplied text cannot put C1 controls into the JSON or NDJSON report', async (t) => {
  // Found in review: JSON.stringify escapes C0 but leaves DEL, C1 controls (U+009B is CSI) and bidi
  // overrides raw, so the JSON report viewed with cat could still drive the terminal. (CSV and HTML
  // carry no text the device chose beyond certificate names, which Node already escapes.)
  const evil = '\x1b]0;owned\x07\x9b31mFAKE^A01';
  const d = device((socket) => {
    socket.once('data', () => {
      socket.end(encodeFrame(`MSH|^~\\&|EVIL|EVIL|X|Y|20260101||${evil}|1|P|2.5\rMSA|AA|1\r`));
    });
  });
  await listen(d.server, '127.52.0.3', 39221);
  t.teardown(d.close);
  for (const format of ['json', 'ndjson'] as const) {
    const out = join(dir, `evil.${format}`);
    await runScan({ targets: ['127.52.0.3'], ports: [39221], timeoutMs: 1500, rate: 1000, format, out });
    const text = readFileSync(out, 'utf8');
    t.notMatch(text, /[\x00-\x09\x0b-\x1f\x7f-\x9f]/, `${format}: no control character other than newline`);
    t.match(text, /FAKE/, `${format}: the device's text is still there, escaped`);
    if (format === 'json') {
      const note = JSON.parse(text).services[0]?.note as string;
      t.ok(note.includes('\x1b]0;owned\x07\x9b31mFAKE'), 'JSON: the escaped text parses back to exactly what the device sent');
    }
  }
});

t.test('tarpits, trickles and floods: the scan ends in bounded time within its concurrency limit', async (t) => {
  // Found in review: after an answer was complete (the 64 KiB read limit reached, or a PDU decoded),
  // closeSocket ended the connection politely and left the socket flowing for up to 1 s while it
  // waited for the peer's FIN, so a device that never stops sending made the scanner read and
  // discard gigabytes (4-5 GB for two flooders in this test) and burn CPU shared by every other host.
  // Now a socket is paused between reads and a peer sending more than 64 KiB after our FIN is cut.
  // The rest (checked, no bug): every read has a timeout, so silent devices and devices trickling a
  // byte every 200 ms forever end in a few timeouts, within the host concurrency limit.
  // (The byte bound leaves room for the kernel's socket buffers, up to 32 MiB each here.)
  const open = new Map<string, number>();
  // Per host: when the device saw its first connection and its last close.
  const spans = new Map<string, { from: number; to: number }>();
  let flooded = 0;
  const devices: Array<ReturnType<typeof device>> = [];
  for (let i = 0; i < 6; i++) {
    const address = `127.52.0.${10 + i}`;
    const d = device((socket) => {
      open.set(address, (open.get(address) ?? 0) + 1);
      const span = spans.get(address) ?? { from: performance.now(), to: 0 };
      spans.set(address, span);
      socket.on('close', () => {
        open.set(address, open.get(address)! - 1);
        span.to = performance.now();
      });
      // Read and ignore the scanner's bytes (a socket that never reads never sees the close).
      socket.resume();
      if (i % 3 === 1) {
        const timer = setInterval(() => socket.write(Buffer.from([0x16])), 200);
        socket.on('close', () => clearInterval(timer));
      } else if (i % 3 === 2) {
        const chunk = Buffer.alloc(65536, 0x41);
        const pump = () => { while (!socket.destroyed && socket.write(chunk)) flooded += chunk.length; };
        socket.on('drain', pump);
        pump();
      }
    });
    await listen(d.server, address, 39230);
    devices.push(d);
  }
  t.teardown(() => Promise.all(devices.map((d) => d.close())));
  const started = performance.now();
  const r = await runScan({ targets: ['127.52.0.10-15'], ports: [39230], timeoutMs: 600, rate: 1000, hostConcurrency: 2, format: 'json', out: '/dev/null' });
  const elapsed = performance.now() - started;
  t.equal(r.services.length, 6, 'every device reported');
  t.ok(r.services.every((s) => s.protocol === 'other' && !s.tls), 'none classified as DICOM, HL7 or TLS');
  t.ok(elapsed < 60_000, `finished in ${Math.round(elapsed)} ms`);
  // A device sees a close a moment after the scanner does: 100 ms of slack on each span's end.
  const edges = [...spans.values()].flatMap((x) => [[x.from, 1], [Math.max(x.from, x.to - 100), -1]]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let maxHosts = 0;
  for (const [, d] of edges) maxHosts = Math.max(maxHosts, (now += d));
  t.ok(maxHosts <= 2, `at most 2 hosts busy at once (saw ${maxHosts})`);
  // The device sees the last close a moment after the scanner: wait for it, generously.
  for (let i = 0; i < 100 && ![...open.values()].every((n) => n === 0); i++) await new Promise((r) => setTimeout(r, 100));
  t.ok([...open.values()].every((n) => n === 0), `every connection closed (${JSON.stringify([...open])})`);
  t.ok(flooded < 512 * 1024 * 1024, `the flooders got rid of ${flooded} bytes before the scanner hung up`);
});

t.test('a certificate that expired in the year 49 is reported expired, not valid until 2049', async (t) => {
  // Found in review: validity times were read with new Date(cert.validTo), and V8 reads the years
  // 0-49 of a GeneralizedTime ("Dec 31 23:59:59 49 GMT") as 2000-2049: a certificate that expired
  // in the year 49 (refused by every verifier) was reported notAfter 2049-12-31 with no cert-expired
  // finding. The peer is a real openssl s_server.
  const ca = join(dir, 'ca49');
  execFileSync('mkdir', ['-p', ca]);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(ca, 'ca.key'), '-out', join(ca, 'ca.pem'), '-days', '30', '-subj', '/CN=Old CA'], { stdio: 'pipe' });
  execFileSync('sh', ['-c', `: > ${ca}/index.txt; echo 1000 > ${ca}/serial; printf '[ca]\\ndefault_ca=d\\n[d]\\ndatabase=${ca}/index.txt\\nnew_certs_dir=${ca}\\nserial=${ca}/serial\\npolicy=p\\ndefault_md=sha256\\nunique_subject=no\\n[p]\\ncommonName=supplied\\n' > ${ca}/ca.cnf`]);
  execFileSync('openssl', ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(ca, 'leaf.key'), '-out', join(ca, 'leaf.csr'), '-subj', '/CN=ancient'], { stdio: 'pipe' });
  execFileSync('openssl', ['ca', '-batch', '-config', join(ca, 'ca.cnf'), '-cert', join(ca, 'ca.pem'), '-keyfile', join(ca, 'ca.key'), '-in', join(ca, 'leaf.csr'), '-out', join(ca, 'leaf.pem'), '-notext',
    '-startdate', '00400101000000Z', '-enddate', '00491231235959Z'], { stdio: 'pipe' });
  const server = spawn('openssl', ['s_server', '-accept', '127.52.0.20:39240', '-cert', join(ca, 'leaf.pem'), '-key', join(ca, 'leaf.key'), '-quiet'], { stdio: ['pipe', 'pipe', 'pipe'] });
  t.teardown(() => { server.kill(); });
  // Wait until it accepts connections.
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(39240, '127.52.0.20');
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (up) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const out = join(dir, 'y49.json');
  await runScan({ targets: ['127.52.0.20'], ports: [39240], timeoutMs: 1500, rate: 1000, trust: [join(ca, 'ca.pem')], format: 'json', out });
  const report = JSON.parse(readFileSync(out, 'utf8')) as ScanReport;
  const s = report.services[0];
  t.equal(s?.tls, true, 'TLS port');
  t.equal(s?.certificate?.notAfter, '0049-12-31T23:59:59.000Z', 'notAfter as in the certificate');
  t.ok(s?.findings.some((f) => f.id === 'cert-expired'), 'cert-expired raised');
});

t.test('a probe that fails after the TLS handshake keeps what was learnt: the port is still reported as TLS', async (t) => {
  // Found in review: any exception in a port's probe replaced its result with {tls: false, protocol:
  // 'other'}, so a TLS device on which a later step failed was reported as if no TLS had been seen.
  // The failure is forced after the handshake by the findings' clock, the last step of a port's probe.
  const dev = device((raw) => {
    const s = new tls.TLSSocket(raw, { isServer: true, ...tlsOptions });
    s.on('error', () => {});
  });
  await listen(dev.server, '127.52.0.30', 39250);
  t.teardown(() => dev.close());
  const { Scanner, DEFAULTS } = await import('../../src/scan/scanner.ts');
  const scanner = new Scanner({ ...DEFAULTS, ports: [39250], ratePerSecond: 1000, timeoutMs: 1500, anchors: [], advisories: [], lang: 'en', now: () => { throw new Error('clock failed'); } });
  const [s] = await scanner.scanHost({ address: '127.52.0.30' });
  t.equal(s?.tls, true, 'the completed handshake is kept');
  t.match(s?.tlsVersion, /^TLSv1\.[23]$/);
  t.match(s?.note, /probe failed: clock failed/, 'the failure is reported on the port');
});
