/**
 * Real peers (dcmtk): our codec as SCU against storescp, and as SCP for echoscu. Loopback only.
 * A missing binary skips the test locally and fails it under CI.
 */
import net from 'node:net';
import t from 'tap';
import {
  AssociationTracker, type DecodedPdu, DimseMessageAssembler, PduReader, SOP_CLASS, TRANSFER_SYNTAX, decodeCEchoRq, decodeCEchoRsp, decodePdu,
  encodeAssociateAc, encodeAssociateRq, encodeCEchoRq, encodeCEchoRsp, encodeReleaseRp, encodeReleaseRq, fragmentMessage,
} from '../../../src/protocols/dicom/index.ts';
import { tempDir } from '../../helpers/tmp.ts';
import { connectLoopback, freeLoopbackPort, itemQueue, spawnPeer, which, withTimeout } from '../fixtures/helpers.ts';
import { IMPLEMENTATION_UID } from '../fixtures/dicom.ts';

const TIMEOUT = 10_000;

function peerOption(name: string): { skip: string | false } {
  return { skip: !which(name) && !process.env.CI ? `${name} (dcmtk) is not installed; install dcmtk to run this interop test` : false };
}

function pduQueue(socket: net.Socket) {
  const reader = new PduReader();
  return itemQueue<DecodedPdu>(socket, (chunk) => reader.push(chunk).map((p) => decodePdu(p)), TIMEOUT);
}

function expectKind<K extends DecodedPdu['kind']>(pdu: DecodedPdu, kind: K): Extract<DecodedPdu, { kind: K }> {
  if (pdu.kind !== kind) throw new Error(`expected ${kind}, got ${pdu.kind}: ${JSON.stringify(pdu.value)}`);
  return pdu as Extract<DecodedPdu, { kind: K }>;
}

t.test('SCU against dcmtk storescp: associate, C-ECHO, release', peerOption('storescp'), async (t) => {
  const bin = which('storescp');
  if (!bin) return void t.fail('storescp is not installed; CI must install dcmtk');
  const port = await freeLoopbackPort();
  // storescp has no bind-address option: it listens on the wildcard address; we only ever connect to 127.0.0.1.
  const peer = spawnPeer(t, bin, ['-aet', 'STORESCP', '-ta', '10', '-td', '10', '-ts', '10', '-od', tempDir(t), String(port)]);
  const socket = await connectLoopback(port);
  t.teardown(() => socket.destroy());
  const pdus = pduQueue(socket);
  const tracker = new AssociationTracker();

  const rq = encodeAssociateRq({
    calledAeTitle: 'STORESCP',
    callingAeTitle: 'WG_TEST',
    presentationContexts: [{ id: 1, abstractSyntax: SOP_CLASS.Verification, transferSyntaxes: [TRANSFER_SYNTAX.ImplicitVrLittleEndian] }],
    userInformation: { maxLength: 16384, implementationClassUid: IMPLEMENTATION_UID, implementationVersionName: 'WARDGATE' },
  });
  socket.write(rq);
  tracker.observe(decodePdu(rq), 'requestor');
  const ac = expectKind(await pdus.next('A-ASSOCIATE-AC'), 'A-ASSOCIATE-AC');
  t.equal(tracker.observe(ac, 'acceptor').violation, undefined, 'AC in order');
  t.same(ac.value.presentationContexts, [{ id: 1, result: 0, transferSyntax: TRANSFER_SYNTAX.ImplicitVrLittleEndian }], 'Verification accepted');
  t.equal(ac.value.calledAeTitle, 'STORESCP', 'AC echoes the called AE title');
  t.ok(ac.value.userInformation.implementationClassUid?.startsWith('1.2.276.0.7230010.3'), `dcmtk implementation class UID ${ac.value.userInformation.implementationClassUid}`);
  t.ok((ac.value.userInformation.maxLength ?? 0) > 0, 'peer announced a maximum length');

  for (const pdu of fragmentMessage(1, encodeCEchoRq({ messageId: 42 }), undefined, ac.value.userInformation.maxLength ?? 0)) socket.write(pdu);
  const assembler = new DimseMessageAssembler();
  let rsp;
  while (!rsp) {
    const data = expectKind(await pdus.next('P-DATA-TF with C-ECHO-RSP'), 'P-DATA-TF');
    t.equal(tracker.observe(data, 'acceptor').violation, undefined, 'P-DATA-TF in order');
    for (const event of assembler.push(data.value)) if (event.kind === 'command') rsp = decodeCEchoRsp(event.raw);
  }
  t.equal(rsp.status, 0, 'C-ECHO-RSP status success');
  t.equal(rsp.messageIdBeingRespondedTo, 42, 'responds to our message ID');
  t.equal(rsp.affectedSopClassUid, SOP_CLASS.Verification, 'Verification SOP class');

  socket.write(encodeReleaseRq());
  tracker.observe(decodePdu(encodeReleaseRq()), 'requestor');
  const rp = await pdus.next('A-RELEASE-RP');
  t.equal(rp.kind, 'A-RELEASE-RP', 'release answered');
  t.equal(tracker.observe(rp, 'acceptor').violation, undefined, 'RP in order');
  t.equal(tracker.phase, 'closed', 'association closed');
  socket.end();
  t.equal(peer.child.exitCode, null, 'storescp still serving (killed in teardown)');
});

t.test('SCP for dcmtk echoscu: decode its RQ and C-ECHO-RQ, answer, release', peerOption('echoscu'), async (t) => {
  const bin = which('echoscu');
  if (!bin) return void t.fail('echoscu is not installed; CI must install dcmtk');
  const seen: { rq?: Extract<DecodedPdu, { kind: 'A-ASSOCIATE-RQ' }>['value']; messageId?: number; released?: boolean; violations: string[] } = { violations: [] };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    const pdus = pduQueue(socket);
    const tracker = new AssociationTracker();
    const send = (pdu: Buffer) => {
      const v = tracker.observe(decodePdu(pdu), 'acceptor').violation;
      if (v) seen.violations.push(v.message);
      socket.write(pdu);
    };
    const receive = async (what: string) => {
      const pdu = await pdus.next(what);
      const v = tracker.observe(pdu, 'requestor').violation;
      if (v) seen.violations.push(v.message);
      return pdu;
    };
    void (async () => {
      const rq = expectKind(await receive('A-ASSOCIATE-RQ'), 'A-ASSOCIATE-RQ').value;
      seen.rq = rq;
      const maxLength = rq.userInformation.maxLength ?? 0;
      send(encodeAssociateAc({
        calledAeTitle: rq.calledAeTitle,
        callingAeTitle: rq.callingAeTitle,
        presentationContexts: rq.presentationContexts.map((pc) => pc.abstractSyntax === SOP_CLASS.Verification
          ? { id: pc.id, result: 0, transferSyntax: pc.transferSyntaxes[0] }
          : { id: pc.id, result: 3 }),
        userInformation: { maxLength: 16384, implementationClassUid: IMPLEMENTATION_UID, implementationVersionName: 'WARDGATE' },
      }));
      const assembler = new DimseMessageAssembler();
      for (;;) {
        const pdu = await receive('P-DATA-TF or A-RELEASE-RQ');
        if (pdu.kind === 'A-RELEASE-RQ') {
          seen.released = true;
          send(encodeReleaseRp());
          return;
        }
        for (const event of assembler.push(expectKind(pdu, 'P-DATA-TF').value)) {
          if (event.kind !== 'command') continue;
          const echo = decodeCEchoRq(event.raw);
          seen.messageId = echo.messageId;
          for (const out of fragmentMessage(event.contextId, encodeCEchoRsp({ messageIdBeingRespondedTo: echo.messageId }), undefined, maxLength)) send(out);
        }
      }
    })().catch((err) => {
      seen.violations.push(String(err));
      socket.destroy();
    });
  });
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const peer = spawnPeer(t, bin, ['-aet', 'WG_TEST', '-aec', 'ANY', '-to', '5', '-ta', '5', '-td', '5', '127.0.0.1', String(port)]);
  const code = await withTimeout(peer.exited, TIMEOUT, 'echoscu to exit');
  t.equal(code, 0, `echoscu exits 0 ${peer.stderr()}`);
  t.equal(seen.rq?.callingAeTitle, 'WG_TEST', 'calling AE title from echoscu');
  t.equal(seen.rq?.calledAeTitle, 'ANY', 'called AE title from echoscu');
  t.ok(seen.rq?.presentationContexts.some((pc) => pc.abstractSyntax === SOP_CLASS.Verification), 'Verification proposed');
  t.ok(seen.rq?.userInformation.implementationClassUid, 'implementation class UID present');
  t.type(seen.messageId, 'number', 'C-ECHO-RQ decoded');
  t.ok(seen.released, 'release handled');
  t.same(seen.violations, [], 'no protocol-order violation either way');
});
