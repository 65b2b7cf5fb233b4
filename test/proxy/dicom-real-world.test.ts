/**
 * The DICOM gateway against what real DICOM software sends (dcmtk on the far side of every route):
 * - storescu proposing 128 presentation contexts with user identity negotiation, both peers at the
 *   smallest Maximum Length (4096) on a route limited to it: the A-ASSOCIATE-RQ is no P-DATA-TF and
 *   passes; the password reaches the SCP and never a log line or audit record;
 * - C-STORE (a 6 MB object in ~1,500 PDVs), C-FIND with C-CANCEL, C-MOVE and C-GET (SCP role selection)
 *   through an outbound route chained to an inbound route in front of dcmqrscp: objects byte-identical,
 *   C-GET's instances audited with the PACS as their source;
 * - a C-STORE the SCP refuses is not audited as transferred;
 * - the Maximum Length each side announced is enforced on what the other side sends, and 0 (no limit,
 *   PS3.8 D.1) is accepted;
 * - an A-ABORT from the acceptor in the middle of a transfer reaches storescu; what the requestor still
 *   had in flight is dropped, not taken for a protocol violation.
 * Where dcmtk cannot be made to misbehave (an oversized PDU, an acceptor announcing 0, an abort
 * mid-transfer that is not lost to a TCP reset), one side is scripted with our codec.
 */
import { mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import t from 'tap';
import {
  ABORT_SOURCE, type DecodedPdu, PduReader, STATUS, TRANSFER_SYNTAX, decodeCommand, decodePdu, encodeAbort, encodeAssociateAc,
  encodeAssociateRq, encodeCStoreRq, encodeCStoreRsp, encodePDataTf, encodeReleaseRp,
} from '../../src/protocols/dicom/index.ts';
import { tempDir } from '../helpers/tmp.ts';
import { itemQueue, spawnPeer } from '../protocols/fixtures/helpers.ts';
import { SECONDARY_CAPTURE, datasetOf, writeDicomFile } from './fixtures/dicom-file.ts';
import { auditWith, freeLoopbackPort, peerOption, requireBinary, run, startGateway, waitForPort } from './fixtures/peers.ts';
import { type ProxyPki, proxyPki } from './fixtures/pki.ts';

type T = Parameters<Parameters<typeof t.test>[0]>[0];

const GW_IN = '127.30.21.1';
const GW_OUT = '127.30.21.2';
const PASSWORD = 'Pa55-w0rd-never-logged';


function uidPattern(uid: string): string {
  return uid.replace(/\./g, '\\.');
}

/** storescp with extra options; waits until it listens. */
async function storescp(t: T, port: number, dir: string, extra: string[] = []) {
  const peer = spawnPeer(t, requireBinary('storescp'), ['-aet', 'STORESCP', '+B', '-od', dir, '-ta', '20', '-td', '20', ...extra, String(port)]);
  await waitForPort('127.0.0.1', port);
  return peer;
}

/** dcmqrscp (PS3.4 Annex C SCP) with one writable storage area, and MOVER as the one move destination. */
async function dcmqrscp(t: T, work: string, port: number, moverPort: number, maxPdu: number) {
  const db = join(work, 'db');
  mkdirSync(db);
  const config = join(work, 'dcmqrscp.cfg');
  writeFileSync(config, [
    `NetworkTCPPort = ${port}`, `MaxPDUSize = ${maxPdu}`, 'MaxAssociations = 16',
    'HostTable BEGIN', `mover = (MOVER, 127.0.0.1, ${moverPort})`, 'HostTable END',
    'VendorTable BEGIN', 'VendorTable END',
    'AETable BEGIN', `COMMON ${db} RW (200, 1024mb) ANY`, 'AETable END', '',
  ].join('\n'));
  const peer = spawnPeer(t, requireBinary('dcmqrscp'), ['-c', config, '-ta', '20', '-td', '20']);
  await waitForPort('127.0.0.1', port);
  return peer;
}

/**
 * Plaintext acceptor scripted with our codec: accepts every context, announces `maxLength`, records the
 * length of every P-DATA-TF, and lets `onData` answer (default: C-STORE-RSP Success to each command's
 * last data fragment).
 */
async function scriptedScp(t: T, maxLength: number, onData?: (socket: net.Socket, pdu: Extract<DecodedPdu, { kind: 'P-DATA-TF' }>) => void) {
  const pdataLengths: number[] = [];
  const open = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
    socket.on('error', () => undefined);
    const reader = new PduReader({ maxPduLength: 0xffffffff });
    let messageId = 0;
    socket.on('data', (chunk: Buffer) => {
      for (const raw of reader.push(chunk)) {
        const pdu = decodePdu(raw, { maxPduLength: 0xffffffff });
        if (pdu.kind === 'A-ASSOCIATE-RQ') {
          socket.write(encodeAssociateAc({
            calledAeTitle: pdu.value.calledAeTitle, callingAeTitle: pdu.value.callingAeTitle,
            presentationContexts: pdu.value.presentationContexts.map((pc) => ({ id: pc.id, result: 0, transferSyntax: pc.transferSyntaxes[0] })),
            userInformation: { maxLength, implementationClassUid: '1.2.826.0.1.3680043.10.1234.5' },
          }));
        } else if (pdu.kind === 'P-DATA-TF') {
          pdataLengths.push(raw.length);
          if (onData) {
            onData(socket, pdu);
            continue;
          }
          for (const pdv of pdu.value) {
            if (pdv.command && pdv.last) messageId = decodeCommand(pdv.data).messageId ?? 0;
            if (!pdv.command && pdv.last) {
              socket.write(encodePDataTf([{ contextId: pdv.contextId, command: true, last: true, data: encodeCStoreRsp({ messageIdBeingRespondedTo: messageId, status: STATUS.Success }) }]));
            }
          }
        } else if (pdu.kind === 'A-RELEASE-RQ') {
          socket.end(encodeReleaseRp());
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  t.teardown(() => new Promise<void>((resolve) => { server.close(() => resolve()); for (const s of open) s.destroy(); }));
  return { port: (server.address() as net.AddressInfo).port, pdataLengths };
}

/** A requestor scripted with our codec over mTLS to the inbound route: sends an A-ASSOCIATE-RQ (CT1 -> STORESCP), returns the PDU queue. */
async function scriptedRequestor(t: T, gwPort: number, pki: ProxyPki, device: { cert: string; key: string }) {
  const socket = tls.connect({ host: GW_IN, port: gwPort, servername: GW_IN, ca: readFileSync(pki.trust), cert: readFileSync(device.cert), key: readFileSync(device.key) });
  t.teardown(() => socket.destroy());
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
  const reader = new PduReader();
  const pdus = itemQueue(socket, (c) => reader.push(c).map((raw) => decodePdu(raw)), 10_000);
  socket.write(encodeAssociateRq({
    calledAeTitle: 'STORESCP', callingAeTitle: 'CT1',
    presentationContexts: [{ id: 1, abstractSyntax: SECONDARY_CAPTURE, transferSyntaxes: [TRANSFER_SYNTAX.ExplicitVrLittleEndian] }],
    userInformation: { maxLength: 16384, implementationClassUid: '1.2.826.0.1.3680043.10.1234.6' },
  }));
  return { socket, pdus };
}

/** The test PKI, a work dir, the gateway's inbound certificate and the modality's client certificate. */
async function inboundParties(t: T) {
  const pki = await proxyPki(t);
  return { pki, work: tempDir(t), gw: await pki.issue('gw', [GW_IN]), device: await pki.issue('ct1', ['ct1.rad.klinikum.internal']) };
}

t.test('storescu: 128 contexts, user identity, Maximum Length 4096 on a route limited to 4096; the password is never logged', peerOption('storescu', 'storescp'), async (t) => {
  const { pki, work, gw, device } = await inboundParties(t);
  const stored = join(work, 'stored');
  mkdirSync(stored);
  const scpPort = await freeLoopbackPort();
  const scp = await storescp(t, scpPort, stored, ['-pdu', '4096', '-d']);
  const gwPort = await freeLoopbackPort();
  const auditFile = join(work, 'audit.log');
  const log: string[] = [];
  const gateway = await startGateway(t, {
    routes: [{
      name: 'pacs-in', direction: 'inbound', protocol: 'dicom', listen: `${GW_IN}:${gwPort}`, upstream: `127.0.0.1:${scpPort}`,
      tls: { cert: [gw.cert], key: [gw.key], ca: pki.trust }, limits: { maxPduLength: 4096 },
      allow: [{ peerSans: ['ct1.rad.klinikum.internal'], callingAeTitles: ['CT1'] }],
    }],
    audit: { file: auditFile },
  }, log);
  const file = join(work, 'image.dcm');
  const uid = '1.2.826.0.1.3680043.10.1234.21.1';
  writeDicomFile(file, { sopInstanceUid: uid, rows: 1024, columns: 1024 });
  const tlsArgs = ['+tls', device.key, device.cert, '+cf', pki.trust];

  // -xs: one context per transfer syntax, 128 in all (dcmtk's maximum): an A-ASSOCIATE-RQ of ~11 KB.
  const r = await run(requireBinary('storescu'), ['-xs', '-pdu', '4096', '-aet', 'CT1', '-aec', 'STORESCP', '--user', 'alice', '--password', PASSWORD, ...tlsArgs, GW_IN, String(gwPort), file]);
  t.equal(r.code, 0, `storescu succeeded: ${r.output}`);
  const files = readdirSync(stored);
  t.equal(files.length, 1, 'one object stored');
  if (files[0]) t.ok(datasetOf(join(stored, files[0])).equals(datasetOf(file)), 'stored data set byte-identical (1 MiB in 4 KiB PDUs)');
  t.match(scp.stdout().toString() + scp.stderr(), /Username: \[alice\]/, 'the user identity sub-item reached the SCP');

  const denied = await run(requireBinary('storescu'), ['-aet', 'CT9', '-aec', 'STORESCP', '--user', 'mallory', '--password', PASSWORD, ...tlsArgs, GW_IN, String(gwPort), file]);
  t.match(denied.output, /Association Rejected/, 'unbound calling AE title rejected');

  await auditWith(auditFile, /csd_code="110132"/);
  const audit = await auditWith(auditFile, new RegExp(`csd_code="110104"[^\\n]*Instance UID="${uidPattern(uid)}"`));
  t.match(audit, new RegExp(`csd_code="110104"[^\\n]*Instance UID="${uidPattern(uid)}"`), 'the stored instance is audited');
  t.equal(gateway.metrics.get('wardgate_protocol_errors_total', { route: 'pacs-in' }), 0, 'no protocol error');
  for (const [what, text] of [['audit', audit], ['log', log.join('\n')]]) {
    t.notOk(text.includes(PASSWORD) || text.includes(Buffer.from(PASSWORD).toString('hex')) || text.includes(Buffer.from(PASSWORD).toString('base64')), `the password is nowhere in the ${what}`);
  }
});

t.test('C-STORE, C-FIND with C-CANCEL, C-MOVE and C-GET through outbound -> inbound -> dcmqrscp', peerOption('storescu', 'findscu', 'movescu', 'getscu', 'dcmqrscp', 'storescp'), async (t) => {
  const pki = await proxyPki(t);
  const work = tempDir(t);
  const gwIn = await pki.issue('gw-in', [GW_IN]);
  const gwOut = await pki.issue('gw-out', ['gw.klinikum.internal']);
  const qrPort = await freeLoopbackPort();
  const moverPort = await freeLoopbackPort();
  // The PACS receives and sends up to 128 KiB PDUs; the retrieving SCU below accepts only 4 KiB.
  await dcmqrscp(t, work, qrPort, moverPort, 131072);
  const moved = join(work, 'moved');
  mkdirSync(moved);
  await storescp(t, moverPort, moved, ['-aet', 'MOVER']);
  const inPort = await freeLoopbackPort();
  const outPort = await freeLoopbackPort();
  const auditFile = join(work, 'audit.log');
  const gateway = await startGateway(t, {
    routes: [
      { name: 'ws-out', direction: 'outbound', protocol: 'dicom', listen: `${GW_OUT}:${outPort}`, upstream: `${GW_IN}:${inPort}`, tls: { cert: [gwOut.cert], key: [gwOut.key], ca: pki.trust } },
      { name: 'pacs-in', direction: 'inbound', protocol: 'dicom', listen: `${GW_IN}:${inPort}`, upstream: `127.0.0.1:${qrPort}`, tls: { cert: [gwIn.cert], key: [gwIn.key], ca: pki.trust },
        allow: [{ peerSans: ['gw.klinikum.internal'], callingAeTitles: ['WS1'] }] },
    ],
    audit: { file: auditFile },
  });
  const peer = [GW_OUT, String(outPort)];
  const file = join(work, 'multi.dcm');
  const uid = '1.2.826.0.1.3680043.10.1234.21.2';
  const study = `${uid}.1`;
  writeDicomFile(file, { sopInstanceUid: uid, rows: 2048, columns: 3000 });

  const store = await run(requireBinary('storescu'), ['-aet', 'WS1', '-aec', 'COMMON', ...peer, file], 60_000);
  t.equal(store.code, 0, `C-STORE of 6 MB: ${store.output}`);

  const find = await run(requireBinary('findscu'), ['-v', '-S', '--cancel', '1', '-aet', 'WS1', '-aec', 'COMMON', '-k', 'QueryRetrieveLevel=STUDY', '-k', 'StudyInstanceUID', ...peer]);
  t.equal(find.code, 0, `C-FIND: ${find.output}`);
  t.match(find.output, /Sending Cancel Request[\s\S]*Received Final Find Response/, 'C-CANCEL-RQ relayed, final response came back');
  t.match(find.output, new RegExp(uidPattern(study)), 'the study was found');

  const move = await run(requireBinary('movescu'), ['-S', '-aet', 'WS1', '-aec', 'COMMON', '-aem', 'MOVER', '-k', 'QueryRetrieveLevel=STUDY', '-k', `StudyInstanceUID=${study}`, ...peer], 60_000);
  t.equal(move.code, 0, `C-MOVE: ${move.output}`);
  const movedFiles = readdirSync(moved);
  t.equal(movedFiles.length, 1, 'moved to MOVER');
  if (movedFiles[0]) t.ok(datasetOf(join(moved, movedFiles[0])).equals(datasetOf(file)), 'moved object byte-identical');

  const got = join(work, 'got');
  mkdirSync(got);
  const get = await run(requireBinary('getscu'), ['-S', '-pdu', '4096', '-aet', 'WS1', '-aec', 'COMMON', '-od', got, '-k', 'QueryRetrieveLevel=STUDY', '-k', `StudyInstanceUID=${study}`, ...peer], 60_000);
  t.equal(get.code, 0, `C-GET (SCP role selected for the storage contexts): ${get.output}`);
  const gotFiles = readdirSync(got);
  t.equal(gotFiles.length, 1, 'retrieved over the same association');
  if (gotFiles[0]) t.ok(datasetOf(join(got, gotFiles[0])).equals(datasetOf(file)), 'retrieved object byte-identical (sent by the PACS within 4 KiB PDUs)');

  const instance = `Instance UID="${uidPattern(uid)}"`;
  const audit = await auditWith(auditFile, new RegExp(`csd_code="110104"[^\\n]*UserID="COMMON"[^>]*UserIsRequestor="false"[^\\n]*UserID="WS1"[^>]*UserIsRequestor="true"[^\\n]*${instance}`));
  t.match(audit, new RegExp(`EventOutcomeIndicator="0"[^\\n]*csd_code="110104"[^\\n]*UserID="WS1"[^>]*UserIsRequestor="true"[^>]*>[^\\n]*UserID="COMMON"[^\\n]*${instance}`), 'C-STORE audited: WS1 the source');
  t.match(audit, new RegExp(`EventOutcomeIndicator="0"[^\\n]*csd_code="110104"[^\\n]*UserID="COMMON"[^>]*UserIsRequestor="false"[^\\n]*UserID="WS1"[^>]*UserIsRequestor="true"[^\\n]*${instance}`), 'C-GET audited: the PACS is the source, the requestor the destination');
  for (const route of ['ws-out', 'pacs-in']) t.equal(gateway.metrics.get('wardgate_protocol_errors_total', { route }), 0, `${route}: no protocol error`);
});

t.test('a C-STORE the SCP refuses is audited as not transferred', peerOption('storescu', 'storescp'), async (t) => {
  const { pki, work, gw, device } = await inboundParties(t);
  const gone = join(work, 'gone');
  mkdirSync(gone);
  const scpPort = await freeLoopbackPort();
  await storescp(t, scpPort, gone);
  // storescp checked its output directory at start; without it every store is refused (Out of Resources).
  rmdirSync(gone);
  const gwPort = await freeLoopbackPort();
  const auditFile = join(work, 'audit.log');
  await startGateway(t, {
    routes: [{ name: 'pacs-in', direction: 'inbound', protocol: 'dicom', listen: `${GW_IN}:${gwPort}`, upstream: `127.0.0.1:${scpPort}`, tls: { cert: [gw.cert], key: [gw.key], ca: pki.trust } }],
    audit: { file: auditFile },
  });
  const file = join(work, 'image.dcm');
  const uid = '1.2.826.0.1.3680043.10.1234.21.3';
  writeDicomFile(file, { sopInstanceUid: uid });
  const r = await run(requireBinary('storescu'), ['-v', '-aet', 'CT1', '-aec', 'STORESCP', '+tls', device.key, device.cert, '+cf', pki.trust, GW_IN, String(gwPort), file]);
  t.match(r.output, /Received Store Response \(Refused/, `the SCP refused the object: ${r.output}`);
  const audit = await auditWith(auditFile, /csd_code="110104"/);
  const records = audit.split('\n').filter((l) => l.includes('csd_code="110104"') && l.includes(uid));
  t.equal(records.length, 1, 'one Instances Transferred record names the instance');
  t.match(records[0] ?? '', /EventOutcomeIndicator="4"/, 'with a failure outcome, not success');
});

t.test('Maximum Length: what each side announced bounds what the other sends; 0 means no limit', peerOption('storescu', 'storescp'), async (t) => {
  const { pki, work, gw, device } = await inboundParties(t);
  const stored = join(work, 'stored');
  mkdirSync(stored);
  const scpPort = await freeLoopbackPort();
  await storescp(t, scpPort, stored, ['-pdu', '4096']);
  const zero = await scriptedScp(t, 0);
  const gwPort = await freeLoopbackPort();
  const zeroPort = await freeLoopbackPort();
  const log: string[] = [];
  const route = (name: string, port: number, upstream: number) => ({
    name, direction: 'inbound', protocol: 'dicom', listen: `${GW_IN}:${port}`, upstream: `127.0.0.1:${upstream}`, tls: { cert: [gw.cert], key: [gw.key], ca: pki.trust },
  });
  const gateway = await startGateway(t, { routes: [route('small-pdu', gwPort, scpPort), route('no-limit', zeroPort, zero.port)] }, log);

  // A requestor ignoring storescp's 4096: a P-DATA-TF of 8,000 bytes must not reach the SCP.
  const { socket, pdus } = await scriptedRequestor(t, gwPort, pki, device);
  const ac = await pdus.next('A-ASSOCIATE-AC');
  t.equal(ac.kind === 'A-ASSOCIATE-AC' && ac.value.userInformation.maxLength, 4096, 'storescp announced 4096');
  const command = encodeCStoreRq({ messageId: 1, affectedSopClassUid: SECONDARY_CAPTURE, affectedSopInstanceUid: '1.2.826.0.1.3680043.10.1234.21.4' });
  socket.write(encodePDataTf([{ contextId: 1, command: true, last: true, data: command }]));
  socket.write(encodePDataTf([{ contextId: 1, command: false, last: false, data: Buffer.alloc(7_994, 1) }]));
  const abort = await pdus.next('A-ABORT');
  t.equal(abort.kind, 'A-ABORT', `the gateway aborts: ${abort.kind}`);
  t.equal(abort.kind === 'A-ABORT' && abort.value.source, ABORT_SOURCE.ServiceProvider, 'as the service provider');
  t.match(log.join('\n'), /PDU_TOO_LARGE: P-DATA-TF PDU declares length 8000, above the maximum of 4096, the receiver's negotiated Maximum Length/, 'logged why');
  // storescp +B opens its file when the C-STORE-RQ arrives and deletes it when the abort does: wait
  // for storescp to take the abort (the client may see the gateway's A-ABORT first).
  for (let i = 0; i < 100 && readdirSync(stored).length > 0; i++) await new Promise((r) => setTimeout(r, 50));
  t.same(readdirSync(stored), [], 'nothing stored');

  // An acceptor announcing 0: storescu then sends its largest PDUs, which the route (4 MiB) lets through.
  const file = join(work, 'image.dcm');
  writeDicomFile(file, { sopInstanceUid: '1.2.826.0.1.3680043.10.1234.21.5', rows: 1024, columns: 1024 });
  const r = await run(requireBinary('storescu'), ['-aet', 'CT1', '-aec', 'ANY', '+tls', device.key, device.cert, '+cf', pki.trust, GW_IN, String(zeroPort), file]);
  t.equal(r.code, 0, `storescu to an acceptor with Maximum Length 0: ${r.output}`);
  t.ok(Math.max(...zero.pdataLengths) > 16384, `PDUs above every default crossed the gateway (largest ${Math.max(...zero.pdataLengths)} bytes)`);
  t.equal(gateway.metrics.get('wardgate_protocol_errors_total', { route: 'no-limit' }), 0, 'no protocol error on the unlimited route');
});

t.test('A-ABORT from the acceptor mid-transfer reaches storescu and is audited as the acceptor\'s', peerOption('storescu'), async (t) => {
  const { pki, work, gw, device } = await inboundParties(t);
  let aborted = false;
  // Aborts at the first data set fragment and keeps reading: storescu's PDUs keep arriving at the gateway.
  const scp = await scriptedScp(t, 16384, (socket, pdu) => {
    if (aborted || pdu.value.every((p) => p.command)) return;
    aborted = true;
    socket.write(encodeAbort({ source: ABORT_SOURCE.ServiceUser, reason: 0 }));
  });
  const gwPort = await freeLoopbackPort();
  const auditFile = join(work, 'audit.log');
  const gateway = await startGateway(t, {
    routes: [{ name: 'pacs-in', direction: 'inbound', protocol: 'dicom', listen: `${GW_IN}:${gwPort}`, upstream: `127.0.0.1:${scp.port}`, tls: { cert: [gw.cert], key: [gw.key], ca: pki.trust } }],
    audit: { file: auditFile },
  });
  const file = join(work, 'big.dcm');
  writeDicomFile(file, { sopInstanceUid: '1.2.826.0.1.3680043.10.1234.21.6', rows: 2048, columns: 3000 });
  const r = await run(requireBinary('storescu'), ['-aet', 'CT1', '-aec', 'ANY', '+tls', device.key, device.cert, '+cf', pki.trust, GW_IN, String(gwPort), file], 60_000);
  t.not(r.code, 0, 'storescu fails');
  // Usually it reads the A-ABORT; on a loaded machine the gateway may close before storescu has sent all.
  t.match(r.output, /Peer aborted Association|TCP I\/O Error/, `storescu saw the association end: ${r.output}`);
  t.ok(scp.pdataLengths.length >= 2, 'the acceptor saw the transfer start');
  const audit = await auditWith(auditFile, /csd_code="110125"/);
  t.match(audit, /csd_code="110125"[^\n]*association aborted by the service user \(sent by the acceptor\)/, 'audited as the acceptor\'s abort');
  t.equal(gateway.metrics.get('wardgate_protocol_errors_total', { route: 'pacs-in' }), 0, 'no protocol error counted');
});

t.test('PDUs the requestor had in flight when storescp aborted are dropped, not taken for a violation', peerOption('storescp'), async (t) => {
  const { pki, work, gw, device } = await inboundParties(t);
  const scpPort = await freeLoopbackPort();
  // dcmtk's test switch: A-ABORT once the C-STORE-RQ is received, before its response.
  await storescp(t, scpPort, work, ['--abort-after']);
  const gwPort = await freeLoopbackPort();
  const auditFile = join(work, 'audit.log');
  const log: string[] = [];
  const gateway = await startGateway(t, {
    routes: [{ name: 'pacs-in', direction: 'inbound', protocol: 'dicom', listen: `${GW_IN}:${gwPort}`, upstream: `127.0.0.1:${scpPort}`, tls: { cert: [gw.cert], key: [gw.key], ca: pki.trust } }],
    audit: { file: auditFile },
  }, log);
  const file = join(work, 'image.dcm');
  const uid = '1.2.826.0.1.3680043.10.1234.21.7';
  writeDicomFile(file, { sopInstanceUid: uid });

  const { socket, pdus } = await scriptedRequestor(t, gwPort, pki, device);
  t.equal((await pdus.next('A-ASSOCIATE-AC')).kind, 'A-ASSOCIATE-AC', 'accepted');
  const storeRq = (messageId: number) => encodePDataTf([{ contextId: 1, command: true, last: true,
    data: encodeCStoreRq({ messageId, affectedSopClassUid: SECONDARY_CAPTURE, affectedSopInstanceUid: uid }) }]);
  socket.write(storeRq(1));
  socket.write(encodePDataTf([{ contextId: 1, command: false, last: true, data: datasetOf(file) }]));
  const abort = await pdus.next('A-ABORT');
  t.equal(abort.kind === 'A-ABORT' && abort.value.source, ABORT_SOURCE.ServiceUser, 'storescp\'s own A-ABORT relayed');
  // On a real network the next request may already be on its way when the abort arrives (PS3.8 §9.2.3: the
  // abort ends the association at once; whatever follows is discarded).
  socket.write(storeRq(2));
  await pdus.closed;
  const audit = await auditWith(auditFile, new RegExp(`csd_code="110104"[^\\n]*${uidPattern(uid)}`));
  t.match(audit, /csd_code="110125"[^\n]*association aborted by the service user \(sent by the acceptor\)/, 'audited as storescp\'s abort');
  t.equal(gateway.metrics.get('wardgate_protocol_errors_total', { route: 'pacs-in' }), 0, 'no protocol error counted');
  t.notMatch(log.join('\n'), /protocol error/, 'nothing logged as a protocol error');
  const records = audit.split('\n').filter((l) => l.includes('csd_code="110104"') && l.includes(uid));
  t.ok(records.length === 1 && !records[0].includes('EventOutcomeIndicator="0"'), 'the unanswered store is audited, as not transferred');
});
