/**
 * How the DICOM probe leaves an association (PS3.8 §9.3.6-9.3.8): released after an AC, aborted when
 * the release is not answered, aborted when the probe stops waiting for the AC/RJ or refuses the AC,
 * and nothing more after an RJ. Asserted on the bytes a peer receives: dcmtk storescp's debug log
 * for the release, small recording SCPs on 127.43.21.0/24 for the rest.
 */
import net from 'node:net';
import t, { type Test } from 'tap';
import { TRANSFER_SYNTAX, encodeAbort, encodeAssociateAc, encodeAssociateRj, encodeReleaseRq, peekHeader, REJECTION } from '../../src/protocols/dicom/index.ts';
import { connectTcp } from '../../src/scan/connection.ts';
import { associateRq, probeDicom } from '../../src/scan/dicom-probe.ts';
import { RateLimiter } from '../../src/scan/limiter.ts';
import { tempDir } from '../helpers/tmp.ts';
import { freeLoopbackPort, spawnPeer, which } from '../protocols/fixtures/helpers.ts';

const ABORT_BY_USER = encodeAbort({ source: 0, reason: 0 });
const ctx = { rate: new RateLimiter(1000), timeoutMs: 2000 };

function ac(contextId = 1): Buffer {
  return encodeAssociateAc({
    calledAeTitle: 'ANY-SCP', callingAeTitle: 'WARDGATE-SCAN',
    presentationContexts: [{ id: contextId, result: 0, transferSyntax: TRANSFER_SYNTAX.ImplicitVrLittleEndian }],
    userInformation: { maxLength: 16384, implementationClassUid: '1.2.3.4.5', implementationVersionName: 'RECORDER_1' },
  });
}

/** Split what a peer received into PDUs (and a trailing remainder, if any). */
function pdus(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (at < data.length) {
    const h = peekHeader(data, { offset: at, maxPduLength: 1 << 20 });
    if (!h || at + h.totalLength > data.length) {
      out.push(data.subarray(at));
      break;
    }
    out.push(data.subarray(at, at + h.totalLength));
    at += h.totalLength;
  }
  return out;
}

/**
 * An SCP that records every byte of its one connection and answers the A-ASSOCIATE-RQ with
 * `onRq` (nothing: silent). Resolves `received` when the scanner's side closes.
 */
async function recordingScp(t: Test, address: string, onRq: (s: net.Socket) => void, onRelease?: (s: net.Socket) => void) {
  let resolveReceived: (b: Buffer) => void;
  const received = new Promise<Buffer>((r) => { resolveReceived = r; });
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    const chunks: Buffer[] = [];
    let answered = false;
    let released = false;
    socket.on('error', () => {});
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      const got = pdus(Buffer.concat(chunks));
      if (!answered && got[0]?.[0] === 1 && got[0].length === associateRq('ANY-SCP').length) {
        answered = true;
        onRq(socket);
      }
      if (!released && got.some((p) => p[0] === 5 && p.length === 10)) {
        released = true;
        onRelease?.(socket);
      }
    });
    // 'close', not 'end': the recorder never ends its side itself unless told to, so it sees
    // everything the scanner sent before the transport went away.
    socket.on('close', () => resolveReceived(Buffer.concat(chunks)));
  });
  await new Promise<void>((resolve) => server.listen(0, address, resolve));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { port: (server.address() as net.AddressInfo).port, received };
}

async function probe(address: string, port: number, timeoutMs: number) {
  const tcp = await connectTcp(ctx, address, port);
  if (!tcp.ok) throw new Error(`connect: ${tcp.message}`);
  const started = performance.now();
  const result = await probeDicom(tcp.socket, 'ANY-SCP', timeoutMs);
  return { result, ms: performance.now() - started };
}

t.test('no answer to the A-ASSOCIATE-RQ: A-ABORT (source 0) before the transport is closed', async (t) => {
  const scp = await recordingScp(t, '127.43.21.1', () => {});
  const { result, ms } = await probe('127.43.21.1', scp.port, 400);
  t.same(result, { dicom: false, reason: 'no answer within 400 ms' });
  const got = pdus(await scp.received);
  t.equal(got.length, 2, 'the device received two PDUs');
  t.equal(got[0][0], 1, 'first the A-ASSOCIATE-RQ');
  t.same(got[1], ABORT_BY_USER, 'then A-ABORT, source 0 (service user), reason 0');
  t.ok(ms < 400 + 250 + 300, `the silent device costs the timeout plus a short grace (${Math.round(ms)} ms)`);
});

t.test('half an A-ASSOCIATE-AC, then silence: A-ABORT', async (t) => {
  const scp = await recordingScp(t, '127.43.21.2', (s) => s.write(ac().subarray(0, 20)));
  const { result } = await probe('127.43.21.2', scp.port, 400);
  t.equal(result.dicom, false, `not counted as DICOM: ${!result.dicom && result.reason}`);
  const got = pdus(await scp.received);
  t.same(got.slice(1), [ABORT_BY_USER], 'A-ABORT after the RQ');
});

t.test('A-ASSOCIATE-AC answered by A-RELEASE-RP: A-RELEASE-RQ only', async (t) => {
  const scp = await recordingScp(t, '127.43.21.3', (s) => s.write(ac()), (s) => s.end(Buffer.from([6, 0, 0, 0, 0, 4, 0, 0, 0, 0])));
  const { result } = await probe('127.43.21.3', scp.port, 1000);
  t.match(result, { dicom: true, association: 'accepted' });
  const got = pdus(await scp.received);
  t.same(got.slice(1), [encodeReleaseRq()], 'release, no abort');
});

t.test('A-ASSOCIATE-AC, release never answered: A-RELEASE-RQ then A-ABORT', async (t) => {
  const scp = await recordingScp(t, '127.43.21.4', (s) => s.write(ac()));
  const { result } = await probe('127.43.21.4', scp.port, 400);
  t.match(result, { dicom: true, association: 'accepted' });
  const got = pdus(await scp.received);
  t.same(got.slice(1), [encodeReleaseRq(), ABORT_BY_USER]);
});

t.test('an A-ASSOCIATE-AC the probe refuses (wrong presentation context): A-ABORT', async (t) => {
  const scp = await recordingScp(t, '127.43.21.5', (s) => s.write(ac(3)));
  const { result } = await probe('127.43.21.5', scp.port, 1000);
  t.equal(result.dicom, false, `look-alike: ${!result.dicom && result.reason}`);
  const got = pdus(await scp.received);
  t.same(got.slice(1), [ABORT_BY_USER], 'the device, if it is one, frees the association it granted');
});

t.test('A-ASSOCIATE-RJ: nothing more is sent (PS3.8 §9.3.4: the requestor just closes)', async (t) => {
  const scp = await recordingScp(t, '127.43.21.6', (s) => s.write(encodeAssociateRj(REJECTION.calledAeTitleNotRecognized)));
  const { result } = await probe('127.43.21.6', scp.port, 1000);
  t.match(result, { dicom: true, association: 'rejected' });
  t.equal(pdus(await scp.received).length, 1, 'only the A-ASSOCIATE-RQ');
});

t.test('dcmtk storescp sees the association released', { skip: !which('storescp') && !process.env.CI ? 'storescp (dcmtk) is not installed' : false }, async (t) => {
  const bin = which('storescp');
  if (!bin) return void t.fail('storescp is not installed; CI must install dcmtk');
  const port = await freeLoopbackPort();
  // storescp cannot bind one address; it listens on the wildcard and we connect to 127.43.21.7 only.
  const peer = spawnPeer(t, bin, ['-d', '-aet', 'ANY-SCP', '-ta', '10', '-td', '10', '-od', tempDir(t), String(port)]);
  let tcp;
  for (let i = 0; i < 50; i++) {
    tcp = await connectTcp(ctx, '127.43.21.7', port);
    if (tcp.ok) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  if (!tcp?.ok) return void t.fail('storescp did not start listening');
  const result = await probeDicom(tcp.socket, 'ANY-SCP', 3000);
  t.match(result, { dicom: true, association: 'accepted' }, 'storescp accepts Verification');
  // storescp logs after it answered; give it a moment.
  for (let i = 0; i < 20 && !/Release/i.test(peer.stdout().toString() + peer.stderr()); i++) await new Promise((r) => setTimeout(r, 100));
  const log = peer.stdout().toString() + peer.stderr();
  t.match(log, /Association Release/i, 'storescp logged the release request');
  t.notMatch(log, /Association Abort|Aborted/i, 'and no abort');
});
