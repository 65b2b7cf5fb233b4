/**
 * Three gaps of the DICOM relay, each against a scripted acceptor (dcmtk has no switch to delay an
 * A-ASSOCIATE-AC, to send a C-MOVE-RQ as an acceptor, or to propose sub-items 53h/56h/57h) and, where
 * dcmtk can take part, against dcmtk itself (echoscu giving up on the AC, storescp reading 53h/56h/57h):
 * 1. PS3.8 §9.2 Sta5: while the AC is pending, the requestor's A-ABORT (or its closing the connection,
 *    as echoscu does when its ACSE timeout expires) ends the association at once, and any other PDU
 *    is a protocol error answered with A-ABORT both ways;
 * 2. a C-MOVE-RQ from the acceptor (PS3.7 D.3.3.4 role selection) obeys the route's move destinations;
 * 3. the asynchronous operations window (PS3.7 D.3.3.3) and SOP class (common) extended negotiation
 *    (D.3.3.5/D.3.3.6) cross the gateway byte for byte, and outstanding operations with interleaved
 *    message IDs are audited store by store, with policy still applied.
 */
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import t from 'tap';
import {
  ABORT_REASON, ABORT_SOURCE, COMMAND_FIELD, DATA_SET_TYPE, type DecodedPdu, PDU_TYPE, PduReader, type RawPdu, type RoleSelection, STATUS, TRANSFER_SYNTAX,
  type UserInformation, decodeCommand, decodePdu, encodeAbort, encodeAssociateAc, encodeAssociateRq, encodeCEchoRq, encodeCEchoRsp, encodeCStoreRq,
  encodeCStoreRsp, encodeCommand, encodePDataTf, encodeReleaseRp, encodeReleaseRq,
} from '../../src/protocols/dicom/index.ts';
import { tempDir } from '../helpers/tmp.ts';
import { itemQueue, spawnPeer, withTimeout } from '../protocols/fixtures/helpers.ts';
import { SECONDARY_CAPTURE, datasetOf, writeDicomFile } from './fixtures/dicom-file.ts';
import { auditWith, freeLoopbackPort, peerOption, requireBinary, run, startGateway, waitForPort } from './fixtures/peers.ts';
import { type ProxyPki, proxyPki } from './fixtures/pki.ts';
import { implicitElement } from './fixtures/dicom-element.ts';

type T = Parameters<Parameters<typeof t.test>[0]>[0];

const GW = '127.30.59.1';
const ACCEPTOR = '127.30.59.2';
const VERIFICATION = '1.2.840.10008.1.1';
const MOVE_STUDY_ROOT = '1.2.840.10008.5.1.4.1.2.2.2';
/** Long enough never to be what ends an association in these tests. */
const ARTIM_MS = 60_000;
const QUEUE_TIMEOUT_MS = 15_000;
/** The scripted acceptor's own idle limit: above every wait, so that a close it sees is the gateway's. */
const ACCEPTOR_IDLE_MS = 45_000;

interface Pdu {
  raw: RawPdu;
  pdu: DecodedPdu;
}

/** The PDUs `socket` receives, in a queue; `seen` also gets the kind of each. */
function pduQueue(socket: net.Socket, seen: string[] = [], idleMs = QUEUE_TIMEOUT_MS) {
  const reader = new PduReader();
  const queue = itemQueue<Pdu>(socket, (chunk) => reader.push(chunk).map((raw) => {
    const pdu = decodePdu(raw);
    seen.push(pdu.kind);
    return { raw, pdu };
  }), idleMs);
  return { ...queue, next: (what: string) => withTimeout(queue.next(what), QUEUE_TIMEOUT_MS, what) };
}

/**
 * Acceptor scripted with our codec, plaintext or (with `tlsFiles`) TLS requiring a client certificate:
 * `answer` gets each A-ASSOCIATE-RQ and returns the AC to send at once, or nothing (the test answers,
 * or never does). Every later PDU is left to the test; `ended` resolves when the gateway closes its side.
 */
async function scriptedAcceptor(t: T, answer: (rq: Extract<DecodedPdu, { kind: 'A-ASSOCIATE-RQ' }>['value']) => Buffer | undefined, tlsFiles?: { cert: string; key: string; ca: string }) {
  const waiting: Array<(c: Conn) => void> = [];
  const arrived: Conn[] = [];
  const open = new Set<net.Socket>();
  let connections = 0;
  /** Kinds of every PDU any connection received. */
  const seen: string[] = [];
  type Conn = { socket: net.Socket; pdus: ReturnType<typeof pduQueue>; rq: Promise<Pdu>; ended: Promise<void> };
  const onConnection = (socket: net.Socket) => {
    connections++;
    open.add(socket);
    socket.once('close', () => open.delete(socket));
    socket.on('error', () => undefined);
    const ended = new Promise<void>((resolve) => socket.once('end', () => resolve()));
    const pdus = pduQueue(socket, seen, ACCEPTOR_IDLE_MS);
    const rq = pdus.next('A-ASSOCIATE-RQ at the acceptor').then((first) => {
      if (first.pdu.kind === 'A-ASSOCIATE-RQ') {
        const ac = answer(first.pdu.value);
        if (ac) socket.write(ac);
      }
      return first;
    });
    const conn = { socket, pdus, rq, ended };
    const w = waiting.shift();
    if (w) w(conn);
    else arrived.push(conn);
  };
  const server = tlsFiles
    ? tls.createServer({ cert: readFileSync(tlsFiles.cert), key: readFileSync(tlsFiles.key), ca: readFileSync(tlsFiles.ca), requestCert: true, rejectUnauthorized: true }).on('secureConnection', onConnection)
    : net.createServer(onConnection);
  await new Promise<void>((resolve) => server.listen(0, ACCEPTOR, () => resolve()));
  t.teardown(() => new Promise<void>((resolve) => { server.close(() => resolve()); for (const s of open) s.destroy(); }));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => connections,
    seen,
    next: (): Promise<Conn> => {
      const c = arrived.shift();
      return withTimeout(c ? Promise.resolve(c) : new Promise<Conn>((r) => waiting.push(r)), QUEUE_TIMEOUT_MS, 'connection at the acceptor');
    },
  };
}

/** An AC accepting every proposed context with its first transfer syntax. */
function acceptAll(rq: Extract<DecodedPdu, { kind: 'A-ASSOCIATE-RQ' }>['value'], userInformation: UserInformation = {}): Buffer {
  return encodeAssociateAc({
    calledAeTitle: rq.calledAeTitle, callingAeTitle: rq.callingAeTitle,
    presentationContexts: rq.presentationContexts.map((pc) => ({ id: pc.id, result: 0, transferSyntax: pc.transferSyntaxes[0] })),
    userInformation: { maxLength: 16384, implementationClassUid: '1.2.826.0.1.3680043.10.1234.5', ...userInformation },
  });
}

/** The test PKI, the gateway's and the modality's certificates, an inbound route to `acceptorPort`; returns what the tests need. */
async function inboundGateway(t: T, acceptorPort: number, route: Record<string, unknown> = {}) {
  const pki = await proxyPki(t);
  const gw = await pki.issue('gw', [GW]);
  const device = await pki.issue('ct1', ['ct1.rad.klinikum.internal']);
  const work = tempDir(t);
  const port = await freeLoopbackPort();
  const auditFile = join(work, 'audit.log');
  const log: string[] = [];
  const gateway = await startGateway(t, {
    routes: [{
      name: 'gaps-in', direction: 'inbound', protocol: 'dicom', listen: `${GW}:${port}`, upstream: `${ACCEPTOR}:${acceptorPort}`,
      tls: { cert: [gw.cert], key: [gw.key], ca: pki.trust }, limits: { artimTimeoutMs: ARTIM_MS }, ...route,
    }],
    audit: { file: auditFile },
  }, log);
  return { pki, device, port, auditFile, log, gateway };
}

/** A requestor over mTLS, scripted with our codec; nothing sent yet. */
async function requestor(t: T, port: number, pki: ProxyPki, device: { cert: string; key: string }) {
  const socket = tls.connect({ host: GW, port, servername: GW, ca: readFileSync(pki.trust), cert: readFileSync(device.cert), key: readFileSync(device.key) });
  t.teardown(() => socket.destroy());
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
  return { socket, pdus: pduQueue(socket) };
}

/** Contexts as [ID, abstract syntax, transfer syntax (default Implicit VR Little Endian)]. */
function associateRq(contexts: Array<[number, string, string?]>, userInformation: UserInformation = {}, callingAeTitle = 'CT1'): Buffer {
  return encodeAssociateRq({
    calledAeTitle: 'PACS', callingAeTitle,
    presentationContexts: contexts.map(([id, abstractSyntax, ts]) => ({ id, abstractSyntax, transferSyntaxes: [ts ?? TRANSFER_SYNTAX.ImplicitVrLittleEndian] })),
    userInformation: { maxLength: 16384, implementationClassUid: '1.2.826.0.1.3680043.10.1234.6', ...userInformation },
  });
}


const command = (contextId: number, data: Buffer) => encodePDataTf([{ contextId, command: true, last: true, data }]);
const dataset = (contextId: number, data: Buffer) => encodePDataTf([{ contextId, command: false, last: true, data }]);

function expectAbort(t: T, got: Pdu, source: number, reason: number | undefined, what: string): void {
  const ok = got.pdu.kind === 'A-ABORT' && got.pdu.value.source === source && (reason === undefined || got.pdu.value.reason === reason);
  t.ok(ok, `${what}: A-ABORT source ${source}${reason === undefined ? '' : ` reason ${reason}`} (got ${got.pdu.kind}${got.pdu.kind === 'A-ABORT' ? ` ${JSON.stringify(got.pdu.value)}` : ''})`);
}

t.test('gap 1: the requestor\'s A-ABORT while the AC is pending reaches the acceptor at once', async (t) => {
  const acceptor = await scriptedAcceptor(t, () => undefined);
  const { pki, device, port, auditFile, gateway } = await inboundGateway(t, acceptor.port);
  const scu = await requestor(t, port, pki, device);
  scu.socket.write(associateRq([[1, VERIFICATION]]));
  const conn = await acceptor.next();
  t.equal((await conn.rq).pdu.kind, 'A-ASSOCIATE-RQ', 'the RQ reached the acceptor, which withholds its AC');

  const sentAt = Date.now();
  scu.socket.write(encodeAbort({ source: ABORT_SOURCE.ServiceUser, reason: 0 }));
  const relayed = await conn.pdus.next('the requestor\'s A-ABORT at the acceptor, no AC sent');
  const elapsed = Date.now() - sentAt;
  expectAbort(t, relayed, ABORT_SOURCE.ServiceUser, undefined, 'the requestor\'s own abort is relayed');
  t.ok(elapsed < ARTIM_MS, `relayed after ${elapsed} ms, without any AC and long before ARTIM (${ARTIM_MS} ms) could end it`);
  await withTimeout(conn.pdus.closed, QUEUE_TIMEOUT_MS, 'the gateway closes the acceptor\'s connection');
  await withTimeout(scu.pdus.closed, QUEUE_TIMEOUT_MS, 'the gateway closes the requestor\'s connection');
  const audit = await auditWith(auditFile, /csd_code="110125"/);
  t.match(audit, /csd_code="110125"[^\n]*association aborted by the service user \(sent by the requestor\) before the A-ASSOCIATE-AC/, 'audited as the requestor\'s abort before the AC');
  t.equal(gateway.metrics.get('wardgate_protocol_errors_total', { route: 'gaps-in' }), 0, 'no protocol error counted');
});

t.test('gap 1: any other PDU from the requestor before the AC is answered with A-ABORT both ways, without waiting for the AC', async (t) => {
  const acceptor = await scriptedAcceptor(t, () => undefined);
  const { pki, device, port, auditFile, gateway } = await inboundGateway(t, acceptor.port);
  const echo = command(1, encodeCEchoRq({ messageId: 1 }));
  // A second RQ's header declaring 200,000 bytes: judged on its 6 bytes, the body is never awaited.
  const secondRqHeader = Buffer.from([PDU_TYPE.AssociateRq, 0, 0, 0x03, 0x0d, 0x40]);
  const cases: Array<{ name: string; afterRq: Buffer }> = [
    { name: 'C-ECHO P-DATA-TF', afterRq: echo },
    { name: 'a second A-ASSOCIATE-RQ header, its body never sent', afterRq: secondRqHeader },
  ];
  {
    // In the same write as the RQ: usually judged before the acceptor is even connected to, so it may
    // see nothing, a connection closed unused, or the RQ and an abort; never the P-DATA-TF.
    const scu = await requestor(t, port, pki, device);
    scu.socket.write(Buffer.concat([associateRq([[1, VERIFICATION]]), echo]));
    expectAbort(t, await scu.pdus.next('answer to RQ + P-DATA-TF'), ABORT_SOURCE.ServiceProvider, ABORT_REASON.UnexpectedPdu, 'RQ and C-ECHO in one write: the requestor gets the gateway\'s abort');
    await withTimeout(scu.pdus.closed, QUEUE_TIMEOUT_MS, 'requestor connection closed');
    t.notOk(acceptor.seen.includes('P-DATA-TF'), `the P-DATA-TF never reaches the acceptor (it saw: ${acceptor.seen.join(', ') || 'nothing'})`);
  }
  for (const c of cases) {
    const scu = await requestor(t, port, pki, device);
    scu.socket.write(associateRq([[1, VERIFICATION]]));
    const conn = await acceptor.next();
    await conn.rq;
    scu.socket.write(c.afterRq);
    const atAcceptor = await conn.pdus.next(`${c.name}: next PDU at the acceptor`);
    expectAbort(t, atAcceptor, ABORT_SOURCE.ServiceProvider, ABORT_REASON.UnexpectedPdu, `${c.name}: the acceptor gets the gateway's abort, not the PDU`);
    const atRequestor = await scu.pdus.next(`${c.name}: answer to the requestor`);
    expectAbort(t, atRequestor, ABORT_SOURCE.ServiceProvider, ABORT_REASON.UnexpectedPdu, `${c.name}: the requestor gets the gateway's abort`);
    await withTimeout(conn.pdus.closed, QUEUE_TIMEOUT_MS, `${c.name}: acceptor connection closed`);
  }
  t.equal(gateway.metrics.get('wardgate_protocol_errors_total', { route: 'gaps-in' }), cases.length + 1, 'each counted as a protocol error');
  const aborted = /csd_code="110125"[^\n]*association aborted: protocol error from the requestor[^\n]*before the A-ASSOCIATE-AC/g;
  const audit = await auditWith(auditFile, new RegExp(`(${aborted.source}[\\s\\S]*){${cases.length + 1}}`));
  t.equal((audit.match(aborted) ?? []).length, cases.length + 1, 'each audited as aborted before the AC');
});

t.test('gap 1: plaintext echoscu giving up on a withheld AC: the TLS acceptor\'s connection is closed at once and the association audited', peerOption('echoscu'), async (t) => {
  const pki = await proxyPki(t);
  const pacs = await pki.issue('pacs', [ACCEPTOR]);
  const gwClient = await pki.issue('gw-client', ['gw.klinikum.internal']);
  const acceptor = await scriptedAcceptor(t, () => undefined, { ...pacs, ca: pki.trust });
  const port = await freeLoopbackPort();
  const auditFile = join(tempDir(t), 'audit.log');
  await startGateway(t, {
    routes: [{
      name: 'gaps-out', direction: 'outbound', protocol: 'dicom', listen: `${GW}:${port}`, upstream: `${ACCEPTOR}:${acceptor.port}`,
      tls: { cert: [gwClient.cert], key: [gwClient.key], ca: pki.trust }, limits: { artimTimeoutMs: ARTIM_MS },
    }],
    audit: { file: auditFile },
  });
  const conn = acceptor.next();
  // -ta: echoscu's ACSE timeout (honoured on plain TCP only); when it expires dcmtk closes the connection
  // without an A-ABORT, a transport close in Sta5 (PS3.8 §9.2.3, AA-4) for the gateway to pass on.
  const echo = run(requireBinary('echoscu'), ['-ta', '3', '-aet', 'MOD1', '-aec', 'PACS', GW, String(port)], 60_000);
  const c = await conn;
  await c.rq;
  const r = await echo;
  const leftAt = Date.now();
  t.match(r.output, /DUL network read timeout/, `echoscu gave up waiting for the AC: ${r.output.trim().split('\n').pop()}`);
  await withTimeout(c.ended, QUEUE_TIMEOUT_MS, 'the gateway closing the acceptor\'s connection after echoscu left');
  t.pass(`the gateway closed the acceptor's connection ${Date.now() - leftAt} ms after echoscu left, without an AC or ARTIM`);
  const audit = await auditWith(auditFile, /csd_code="110125"/);
  t.match(audit, /csd_code="110125"[^\n]*association requestor closed the connection before the A-ASSOCIATE-AC/, 'audited as ended before the AC');
});

/** C-MOVE-RQ of the Study Root Move SOP class (PS3.4 C.4.2) and its identifier. */
function cMoveRq(messageId: number, destination: string): Buffer {
  return encodeCommand({ commandField: COMMAND_FIELD.CMoveRq, messageId, affectedSopClassUid: MOVE_STUDY_ROOT, priority: 0, moveDestination: destination, dataSetType: DATA_SET_TYPE.Present });
}

const IDENTIFIER = Buffer.concat([implicitElement(0x0008, 0x0052, Buffer.from('STUDY ')), implicitElement(0x0020, 0x000d, Buffer.from('1.2.826.0.1.3680043.10.1234.77\0'))]);

/** A C-MOVE-RQ as dcmtk reads it, elements out of ascending order (PS3.5 §7.1): our decoder refuses it. */
function cMoveOutOfOrder(destination: string): Buffer {
  const us = (n: number) => { const b = Buffer.alloc(2); b.writeUInt16LE(n); return b; };
  const body = Buffer.concat([
    implicitElement(0, 0x0002, Buffer.from(`${MOVE_STUDY_ROOT}\0`)), implicitElement(0, 0x0100, us(COMMAND_FIELD.CMoveRq)), implicitElement(0, 0x0110, us(9)),
    implicitElement(0, 0x0700, us(0)), implicitElement(0, 0x0600, Buffer.from(destination.padEnd(16, ' '))), implicitElement(0, 0x0800, us(DATA_SET_TYPE.Present)),
  ]);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(body.length);
  return Buffer.concat([implicitElement(0, 0, len), body]);
}

t.test('gap 2: a C-MOVE-RQ from the acceptor obeys the move destinations, and needs the SCU role (PS3.7 D.3.3.4)', async (t) => {
  const moveRole: RoleSelection = { sopClassUid: MOVE_STUDY_ROOT, scuRole: 1, scpRole: 1 };
  let acRoles: RoleSelection[] | undefined;
  const acceptor = await scriptedAcceptor(t, (rq) => acceptAll(rq, acRoles ? { roleSelections: acRoles } : {}));
  const { pki, device, port, auditFile, gateway } = await inboundGateway(t, acceptor.port, { moveDestinations: { MOD1: 'gaps-in' } });

  /** One association: the requestor proposes `rqRoles`, the acceptor answers `ac`, then sends `fromAcceptor`. */
  const associate = async (rqRoles: RoleSelection[] | undefined, ac: RoleSelection[] | undefined, fromAcceptor: Buffer[]) => {
    acRoles = ac;
    const scu = await requestor(t, port, pki, device);
    scu.socket.write(associateRq([[1, MOVE_STUDY_ROOT]], rqRoles ? { roleSelections: rqRoles } : {}));
    const conn = await acceptor.next();
    await conn.rq;
    t.equal((await scu.pdus.next('A-ASSOCIATE-AC')).pdu.kind, 'A-ASSOCIATE-AC', 'associated');
    conn.socket.write(Buffer.concat(fromAcceptor));
    return { scu, conn };
  };
  const moveFromAcceptor = (cmd: Buffer) => [command(1, cmd), dataset(1, IDENTIFIER)];

  // Role negotiated, mapped destination: the requestor gets the C-MOVE-RQ and answers it; released normally.
  {
    const { scu, conn } = await associate([moveRole], [moveRole], moveFromAcceptor(cMoveRq(1, 'MOD1')));
    const got = await scu.pdus.next('C-MOVE-RQ at the requestor');
    const pdv = got.pdu.kind === 'P-DATA-TF' ? got.pdu.value[0] : undefined;
    t.equal(pdv?.command && decodeCommand(pdv.data).moveDestination?.trim(), 'MOD1', 'role negotiated, destination MOD1 mapped: relayed to the requestor');
    t.equal((await scu.pdus.next('identifier')).pdu.kind, 'P-DATA-TF', 'identifier relayed');
    scu.socket.write(command(1, encodeCommand({ commandField: COMMAND_FIELD.CMoveRsp, messageIdBeingRespondedTo: 1, affectedSopClassUid: MOVE_STUDY_ROOT, dataSetType: DATA_SET_TYPE.Absent, status: STATUS.Success })));
    t.equal((await conn.pdus.next('C-MOVE-RSP at the acceptor')).pdu.kind, 'P-DATA-TF', 'the response reaches the acceptor');
    scu.socket.write(encodeReleaseRq());
    t.equal((await conn.pdus.next('A-RELEASE-RQ')).pdu.kind, 'A-RELEASE-RQ', 'release relayed');
    conn.socket.end(encodeReleaseRp());
    t.equal((await scu.pdus.next('A-RELEASE-RP')).pdu.kind, 'A-RELEASE-RP', 'released');
    await withTimeout(conn.pdus.closed, QUEUE_TIMEOUT_MS, 'acceptor connection closed');
  }
  t.equal(gateway.metrics.get('wardgate_denials_total', { route: 'gaps-in', reason: 'move-destination' }), 0, 'nothing refused so far');

  const refused: Array<[string, RoleSelection[] | undefined, RoleSelection[] | undefined, Buffer]> = [
    ['no role selection (the acceptor is the SCP)', undefined, undefined, cMoveRq(3, 'MOD1')],
    ['SCP role proposed by the requestor, refused in the AC', [moveRole], [{ ...moveRole, scpRole: 0 }], cMoveRq(5, 'MOD1')],
    ['role negotiated, unmapped destination EVILAE', [moveRole], [moveRole], cMoveRq(7, 'EVILAE')],
    ['role negotiated, EVILAE in a command set our decoder refuses', [moveRole], [moveRole], cMoveOutOfOrder('EVILAE')],
  ];
  for (const [name, rqRoles, ac, cmd] of refused) {
    const { scu, conn } = await associate(rqRoles, ac, moveFromAcceptor(cmd));
    const got = await scu.pdus.next(`${name}: what the requestor gets`);
    expectAbort(t, got, ABORT_SOURCE.ServiceProvider, undefined, `${name}: the C-MOVE-RQ never reaches the requestor`);
    expectAbort(t, await conn.pdus.next(`${name}: abort at the acceptor`), ABORT_SOURCE.ServiceProvider, undefined, `${name}: the acceptor is aborted too`);
  }
  t.equal(gateway.metrics.get('wardgate_denials_total', { route: 'gaps-in', reason: 'move-destination' }), refused.length, 'each refusal counted');
  const audit = await auditWith(auditFile, /csd_code="110132"[^\n]*unreadable command set from the acceptor refused/);
  t.match(audit, /csd_code="110132"[^\n]*C-MOVE to "EVILAE" from the acceptor refused/, 'unmapped destination audited as use of a restricted function');
  t.match(audit, /csd_code="110132"[^\n]*C-MOVE to "MOD1" from the acceptor refused[^\n]*not negotiated the SCU role/, 'missing role audited likewise');
  t.match(audit, /csd_code="110132"[^\n]*unreadable command set from the acceptor refused/, 'unreadable command set audited likewise');
});

/** PS3.7 D.3.3.5: SOP Class Extended Negotiation sub-item body: SOP class UID and its service-class-application-information. */
function extendedNegotiation(sopClass: string, info: number[]): Buffer {
  const uid = Buffer.from(sopClass, 'latin1');
  const len = Buffer.alloc(2);
  len.writeUInt16BE(uid.length);
  return Buffer.concat([len, uid, Buffer.from(info)]);
}

/** PS3.7 D.3.3.6: SOP Class Common Extended Negotiation sub-item body: SOP class, service class, related general SOP classes. */
function commonExtendedNegotiation(sopClass: string, serviceClass: string, related: string[]): Buffer {
  const withLength = (s: string) => { const b = Buffer.from(s, 'latin1'); const l = Buffer.alloc(2); l.writeUInt16BE(b.length); return Buffer.concat([l, b]); };
  const relatedItems = Buffer.concat(related.map(withLength));
  const relatedLength = Buffer.alloc(2);
  relatedLength.writeUInt16BE(relatedItems.length);
  return Buffer.concat([withLength(sopClass), withLength(serviceClass), relatedLength, relatedItems]);
}

t.test('gap 3: asynchronous operations window and extended negotiation cross byte for byte; interleaved operations are audited store by store', async (t) => {
  const ext56Rq = extendedNegotiation(SECONDARY_CAPTURE, [1, 0, 1, 0, 0, 0]);
  const ext57Rq = commonExtendedNegotiation(SECONDARY_CAPTURE, '1.2.840.10008.4.2', ['1.2.840.10008.5.1.4.1.1.7.1']);
  const ext56Ac = extendedNegotiation(SECONDARY_CAPTURE, [1, 0, 0, 0, 0, 0]);
  const acceptor = await scriptedAcceptor(t, () => undefined);
  const { pki, device, port, auditFile, gateway } = await inboundGateway(t, acceptor.port, {
    moveDestinations: { MOD1: 'gaps-in' }, allow: [{ peerSans: ['ct1.rad.klinikum.internal'], callingAeTitles: ['CT1'] }],
  });
  const contexts: Array<[number, string]> = [[1, VERIFICATION], [3, SECONDARY_CAPTURE], [5, MOVE_STUDY_ROOT]];
  const userInformation: UserInformation = {
    asyncOperationsWindow: { maxInvoked: 5, maxPerformed: 5 },
    otherItems: [{ type: 0x56, body: ext56Rq }, { type: 0x57, body: ext57Rq }],
  };

  // Policy first: the same proposal from a calling AE no rule admits is rejected, the acceptor never reached.
  {
    const scu = await requestor(t, port, pki, device);
    scu.socket.write(associateRq(contexts, userInformation, 'CT9'));
    t.equal((await scu.pdus.next('answer to CT9')).pdu.kind, 'A-ASSOCIATE-RJ', 'calling AE CT9: A-ASSOCIATE-RJ');
    t.equal(acceptor.connections(), 0, 'the acceptor never saw CT9');
  }

  const scu = await requestor(t, port, pki, device);
  const rqBytes = associateRq(contexts, userInformation);
  scu.socket.write(rqBytes);
  const conn = await acceptor.next();
  const rq = await conn.rq;
  t.ok(rq.raw.raw.equals(rqBytes), 'the A-ASSOCIATE-RQ reaches the acceptor byte for byte');
  const rqInfo = rq.pdu.kind === 'A-ASSOCIATE-RQ' ? rq.pdu.value.userInformation : undefined;
  t.same(rqInfo?.asyncOperationsWindow, { maxInvoked: 5, maxPerformed: 5 }, 'asynchronous operations window (53h) as proposed');
  t.same(rqInfo?.otherItems?.map((i) => [i.type, i.body.toString('hex')]), [[0x56, ext56Rq.toString('hex')], [0x57, ext57Rq.toString('hex')]], 'sub-items 56h and 57h as proposed');

  if (rq.pdu.kind !== 'A-ASSOCIATE-RQ') throw new Error('no RQ');
  const acBytes = acceptAll(rq.pdu.value, { asyncOperationsWindow: { maxInvoked: 3, maxPerformed: 3 }, otherItems: [{ type: 0x56, body: ext56Ac }] });
  conn.socket.write(acBytes);
  const ac = await scu.pdus.next('A-ASSOCIATE-AC');
  t.ok(ac.raw.raw.equals(acBytes), 'the A-ASSOCIATE-AC reaches the requestor byte for byte');
  t.same(ac.pdu.kind === 'A-ASSOCIATE-AC' && ac.pdu.value.userInformation.asyncOperationsWindow, { maxInvoked: 3, maxPerformed: 3 }, 'the acceptor\'s window reaches the requestor');

  const uid = (n: number) => `1.2.826.0.1.3680043.10.1234.59.${n}`;
  const store = (messageId: number, instance: number) => [
    command(3, encodeCStoreRq({ messageId, affectedSopClassUid: SECONDARY_CAPTURE, affectedSopInstanceUid: uid(instance) })),
    dataset(3, Buffer.concat([implicitElement(0x0008, 0x0016, Buffer.from(`${SECONDARY_CAPTURE}\0`)), implicitElement(0x0008, 0x0018, Buffer.from(`${uid(instance)}\0`))])),
  ];
  const storeRsp = (messageId: number, status: number) => command(3, encodeCStoreRsp({ messageIdBeingRespondedTo: messageId, status, affectedSopClassUid: SECONDARY_CAPTURE }));
  /** The acceptor reads `n` PDUs and returns the command sets among them, as [command field, message ID]. */
  const acceptorReads = async (n: number, what: string) => {
    const out: Array<[number, number | undefined]> = [];
    for (let i = 0; i < n; i++) {
      const { pdu } = await conn.pdus.next(`${what} ${i + 1}/${n}`);
      if (pdu.kind !== 'P-DATA-TF') throw new Error(`${what}: ${pdu.kind} at the acceptor`);
      for (const pdv of pdu.value) if (pdv.command) { const c = decodeCommand(pdv.data); out.push([c.commandField, c.messageId]); }
    }
    return out;
  };
  const requestorReads = async (n: number, what: string) => {
    const out: Array<[number, number | undefined, number | undefined]> = [];
    for (let i = 0; i < n; i++) {
      const { pdu } = await scu.pdus.next(`${what} ${i + 1}/${n}`);
      if (pdu.kind !== 'P-DATA-TF') throw new Error(`${what}: ${pdu.kind} at the requestor`);
      for (const pdv of pdu.value) if (pdv.command) { const c = decodeCommand(pdv.data); out.push([c.commandField, c.messageIdBeingRespondedTo, c.status]); }
    }
    return out;
  };

  // Three outstanding operations (window 3): store #1, echo #2, store #3; answered 3, 2, 1 with #1 refused.
  scu.socket.write(Buffer.concat([...store(1, 1), command(1, encodeCEchoRq({ messageId: 2 })), ...store(3, 2)]));
  t.same(await acceptorReads(5, 'first batch'), [[COMMAND_FIELD.CStoreRq, 1], [COMMAND_FIELD.CEchoRq, 2], [COMMAND_FIELD.CStoreRq, 3]], 'the acceptor gets the three requests in order');
  conn.socket.write(Buffer.concat([storeRsp(3, STATUS.Success), command(1, encodeCEchoRsp({ messageIdBeingRespondedTo: 2 })), storeRsp(1, STATUS.RefusedOutOfResources)]));
  t.same(await requestorReads(3, 'first answers'), [[COMMAND_FIELD.CStoreRsp, 3, STATUS.Success], [COMMAND_FIELD.CEchoRsp, 2, STATUS.Success], [COMMAND_FIELD.CStoreRsp, 1, STATUS.RefusedOutOfResources]], 'answers relayed out of request order');

  // Message ID 1 is free again (PS3.7 §9.1.1.1: unique among outstanding operations): reused for instance 4.
  scu.socket.write(Buffer.concat([...store(4, 3), ...store(1, 4)]));
  t.same(await acceptorReads(4, 'second batch'), [[COMMAND_FIELD.CStoreRq, 4], [COMMAND_FIELD.CStoreRq, 1]], 'the acceptor gets #4 and the reused #1');
  conn.socket.write(Buffer.concat([storeRsp(1, STATUS.Success), storeRsp(4, STATUS.CoercionOfDataElements)]));
  t.same(await requestorReads(2, 'second answers'), [[COMMAND_FIELD.CStoreRsp, 1, STATUS.Success], [COMMAND_FIELD.CStoreRsp, 4, STATUS.CoercionOfDataElements]], 'answered #1 first, #4 with a warning');

  // Policy still applies among outstanding operations: store #6 is relayed, the C-MOVE to EVILAE behind it aborts.
  scu.socket.write(Buffer.concat([...store(6, 5), command(5, cMoveRq(7, 'EVILAE')), dataset(5, IDENTIFIER)]));
  t.same(await acceptorReads(2, 'third batch'), [[COMMAND_FIELD.CStoreRq, 6]], 'store #6 relayed');
  expectAbort(t, await conn.pdus.next('after store #6 at the acceptor'), ABORT_SOURCE.ServiceProvider, undefined, 'the C-MOVE-RQ to EVILAE never reaches the acceptor');
  expectAbort(t, await scu.pdus.next('abort at the requestor'), ABORT_SOURCE.ServiceProvider, undefined, 'the requestor is aborted');
  t.equal(gateway.metrics.get('wardgate_denials_total', { route: 'gaps-in', reason: 'move-destination' }), 1, 'the C-MOVE refusal counted');

  const audit = await auditWith(auditFile, /csd_code="110104"[\s\S]*csd_code="110104"/);
  const records = audit.split('\n').filter((l) => l.includes('csd_code="110104"'));
  const listed = (outcome: string) => records.filter((l) => l.includes(`EventOutcomeIndicator="${outcome}"`))
    .flatMap((l) => [...l.matchAll(/Instance UID="([^"]+)"/g)].map((m) => m[1])).sort();
  t.equal(records.length, 2, 'one record for the stored instances, one for the others');
  t.same(listed('0'), [uid(2), uid(3), uid(4)], 'stored: #3 (success), #4 (warning) and the reused #1 (success)');
  t.same(records.filter((l) => !l.includes('EventOutcomeIndicator="0"')).flatMap((l) => [...l.matchAll(/Instance UID="([^"]+)"/g)].map((m) => m[1])).sort(), [uid(1), uid(5)],
    'not stored: the refused #1 and the unanswered #6');
});

t.test('gap 3 against storescp: it accepts an RQ with 53h, 56h and 57h, reads 56h as sent, and stores', peerOption('storescp'), async (t) => {
  const work = tempDir(t);
  const stored = join(work, 'stored');
  mkdirSync(stored);
  const scpPort = await freeLoopbackPort();
  // -d: dcmtk dumps the A-ASSOCIATE-RQ it parsed (of these sub-items, 56h only).
  const scp = spawnPeer(t, requireBinary('storescp'), ['-d', '-aet', 'PACS', '+B', '-od', stored, '-ta', '20', '-td', '20', String(scpPort)]);
  await waitForPort('127.0.0.1', scpPort);
  const pki = await proxyPki(t);
  const gw = await pki.issue('gw', [GW]);
  const device = await pki.issue('ct1', ['ct1.rad.klinikum.internal']);
  const port = await freeLoopbackPort();
  const auditFile = join(work, 'audit.log');
  await startGateway(t, {
    routes: [{ name: 'gaps-in', direction: 'inbound', protocol: 'dicom', listen: `${GW}:${port}`, upstream: `127.0.0.1:${scpPort}`, tls: { cert: [gw.cert], key: [gw.key], ca: pki.trust } }],
    audit: { file: auditFile },
  });
  const scu = await requestor(t, port, pki, device);
  scu.socket.write(associateRq([[1, VERIFICATION], [3, SECONDARY_CAPTURE, TRANSFER_SYNTAX.ExplicitVrLittleEndian]], {
    asyncOperationsWindow: { maxInvoked: 5, maxPerformed: 5 },
    otherItems: [
      { type: 0x56, body: extendedNegotiation(SECONDARY_CAPTURE, [0x02, 0x00, 0x01]) },
      { type: 0x57, body: commonExtendedNegotiation(SECONDARY_CAPTURE, '1.2.840.10008.4.2', ['1.2.840.10008.5.1.4.1.1.7.1']) },
    ],
  }));
  const ac = await scu.pdus.next('A-ASSOCIATE-AC from storescp');
  t.equal(ac.pdu.kind, 'A-ASSOCIATE-AC', 'storescp accepts the association');
  const window = ac.pdu.kind === 'A-ASSOCIATE-AC' ? ac.pdu.value.userInformation.asyncOperationsWindow : undefined;
  // dcmtk performs one operation at a time: with no answer (or 1/1) the window is the default, 1 (PS3.7 D.3.3.3).
  t.ok(!window || (window.maxInvoked === 1 && window.maxPerformed === 1), `storescp's window relayed as it sent it: ${JSON.stringify(window ?? 'none (default 1/1)')}`);

  const instance = '1.2.826.0.1.3680043.10.1234.59.100';
  const file = join(work, 'image.dcm');
  writeDicomFile(file, { sopInstanceUid: instance });
  scu.socket.write(Buffer.concat([command(3, encodeCStoreRq({ messageId: 9, affectedSopClassUid: SECONDARY_CAPTURE, affectedSopInstanceUid: instance })), dataset(3, datasetOf(file))]));
  const rsp = await scu.pdus.next('C-STORE-RSP');
  const pdv = rsp.pdu.kind === 'P-DATA-TF' ? rsp.pdu.value[0] : undefined;
  const answer = pdv?.command ? decodeCommand(pdv.data) : undefined;
  t.same([answer?.messageIdBeingRespondedTo, answer?.status], [9, STATUS.Success], `storescp stored it: ${rsp.pdu.kind}`);
  scu.socket.write(encodeReleaseRq());
  t.equal((await scu.pdus.next('A-RELEASE-RP')).pdu.kind, 'A-RELEASE-RP', 'released');
  t.equal(readdirSync(stored).length, 1, 'one object on disk');

  const dump = scp.stderr() + scp.stdout().toString();
  t.match(dump, /Requested Extended Negotiation:\s*\n[^\n]*=SecondaryCaptureImageStorage \(1\.2\.840\.10008\.5\.1\.4\.1\.1\.7\)\s*\n[^\n]*\[0x02, 0x00, 0x01\]/, 'storescp parsed the 56h sub-item with its application information bytes');
  const audit = await auditWith(auditFile, /csd_code="110104"/);
  const record = audit.split('\n').find((l) => l.includes('csd_code="110104"'));
  t.ok(record?.includes('EventOutcomeIndicator="0"') && record.includes(`Instance UID="${instance}"`), 'the store audited as transferred');
});
