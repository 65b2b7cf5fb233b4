/**
 * A device that accepts every TCP connection and resets it at once, scanned in the same run as a
 * normal DICOM device (both small Node servers on 127.62.1.0/24).
 */
import net from 'node:net';
import t from 'tap';
import { dicomResponder } from './fixtures/dicom-responder.ts';
import { DEFAULTS, Scanner } from '../../src/scan/scanner.ts';
import type { ServiceResult } from '../../src/scan/types.ts';

function listen(server: net.Server, address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => resolve());
  });
}

/** Answers an A-ASSOCIATE-RQ with an AC for context 1 and a release with RP; anything else ends it. */
function dicomDevice(): net.Server {
  return net.createServer((socket) => {
    socket.on('error', () => {});
    dicomResponder(socket, 'NORMAL_1');
  });
}

t.test('a port that accepts and resets every connection gets one entry; the normal device beside it is intact', async (t) => {
  // Found in review: the kernel completes the handshake, the device resets before the scanner's
  // connect callback runs, and Node reports the connect itself as ECONNRESET; the scanner took that
  // as "not open", so a listening (broken or hostile) device vanished from the report.
  let accepted = 0;
  const resetter = net.createServer((socket) => {
    accepted++;
    socket.on('error', () => {});
    socket.resetAndDestroy();
  });
  const normal = dicomDevice();
  await listen(normal, '127.62.1.1', 40130);
  await listen(resetter, '127.62.1.2', 40130);
  t.teardown(() => { normal.close(); resetter.close(); });
  const seen: ServiceResult[] = [];
  const scanner = new Scanner({ ...DEFAULTS, ports: [40130], ratePerSecond: 1000, timeoutMs: 1500, anchors: [], advisories: [], lang: 'en', onService: (s) => seen.push(s) });
  const started = performance.now();
  const results = await scanner.run([{ address: '127.62.1.1' }, { address: '127.62.1.2' }, { address: '127.62.1.3' }]);
  t.ok(performance.now() - started < 10_000, 'finished within the timeouts');
  t.equal(results.length, 2, 'the normal and the resetting device; nothing on the address nobody listens on');
  const n = results.find((s) => s.address === '127.62.1.1');
  t.equal(n?.protocol, 'dicom', 'normal device: DICOM');
  t.equal(n?.dicom?.association, 'accepted');
  t.equal(n?.dicom?.implementationVersionName, 'NORMAL_1');
  const r = results.filter((s) => s.address === '127.62.1.2');
  t.equal(r.length, 1, 'exactly one entry for the resetting device');
  t.match(r[0], { port: 40130, protocol: 'other', tls: false, findings: [], note: /reset/ });
  t.same(seen.map((s) => s.address).sort(), ['127.62.1.1', '127.62.1.2'], 'streamed once each');
  t.ok(accepted >= 1 && accepted <= 2, `the resetting device was not hammered (${accepted} connections)`);
});
