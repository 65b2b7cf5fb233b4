/**
 * The strict classifiers behind the probes, table-driven with hostile look-alikes next to real
 * answers: only a decodable A-ASSOCIATE-AC/-RJ/-ABORT is DICOM, only an MLLP-framed ACK is HL7, and
 * a raw ServerHello is read for version and suite.
 */
import t from 'tap';
import {
  APPLICATION_CONTEXT_UID,
  TRANSFER_SYNTAX,
  encodeAbort,
  encodeAssociateAc,
  encodeAssociateRj,
  REJECTION,
  encodeReleaseRp,
} from '../../src/protocols/dicom/index.ts';
import { buildAck, encodeFrame } from '../../src/protocols/hl7/index.ts';
import { associateRq, classifyAssociateAnswer, randomAeTitle } from '../../src/scan/dicom-probe.ts';
import { classifyHl7Answer, probeMessage } from '../../src/scan/hl7-probe.ts';
import { buildClientHello, parseServerHello } from '../../src/scan/raw-hello.ts';
import { prng, mutate } from '../protocols/fixtures/helpers.ts';

const rq = associateRq('ANY-SCP');
const ac = encodeAssociateAc({
  calledAeTitle: 'ANY-SCP', callingAeTitle: 'WARDGATE-SCAN',
  presentationContexts: [{ id: 1, result: 0, transferSyntax: TRANSFER_SYNTAX.ImplicitVrLittleEndian }],
  userInformation: { maxLength: 16384, implementationClassUid: '1.2.276.0.7230010.3.0.3.6.4', implementationVersionName: 'OFFIS_DCMTK_364' },
});

t.test('DICOM answers', async (t) => {
  const cases: Array<[string, Buffer, boolean, string?]> = [
    ['A-ASSOCIATE-AC', ac, true, 'accepted'],
    ['A-ASSOCIATE-RJ', encodeAssociateRj(REJECTION.calledAeTitleNotRecognized), true, 'rejected'],
    ['A-ABORT', encodeAbort({ source: 2, reason: 0 }), true, 'aborted'],
    ['AC followed by another whole PDU', Buffer.concat([ac, encodeReleaseRp()]), true, 'accepted'],
    ['our own request echoed', rq, false],
    ['HTTP error', Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n'), false],
    ['fake AC header with junk', Buffer.concat([Buffer.from([2, 0, 0, 0, 0, 16]), Buffer.from('HONEYPOT-NOT-DCM')]), false],
    ['AC with foreign application context', encodeAssociateAc({ calledAeTitle: 'A', callingAeTitle: 'B', applicationContext: '1.2.3.4', presentationContexts: [{ id: 1, result: 0, transferSyntax: '1.2.840.10008.1.2' }], userInformation: {} }), false],
    ['AC for another context id', encodeAssociateAc({ calledAeTitle: 'A', callingAeTitle: 'B', presentationContexts: [{ id: 3, result: 0, transferSyntax: '1.2.840.10008.1.2' }], userInformation: {} }), false],
    ['RJ with reserved byte set', Buffer.from([3, 1, 0, 0, 0, 4, 0, 1, 1, 7]), false],
    ['A-ABORT with source 1 (reserved)', Buffer.from([7, 0, 0, 0, 0, 4, 0, 0, 1, 0]), false],
    ['AC with trailing text', Buffer.concat([ac, Buffer.from('garbage')]), false],
    ['release response instead of AC', encodeReleaseRp(), false],
    ['TLS alert', Buffer.from([0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x28]), false],
    ['empty', Buffer.alloc(0), false],
  ];
  for (const [label, data, dicom, association] of cases) {
    const r = classifyAssociateAnswer(data, rq);
    t.equal(r.dicom, dicom, `${label}: ${r.dicom ? r.association : r.reason}`);
    if (r.dicom && association) t.equal(r.association, association);
  }
  const r = classifyAssociateAnswer(ac, rq);
  t.equal(r.dicom && r.implementationVersionName, 'OFFIS_DCMTK_364', 'implementation version name read');
  t.equal(APPLICATION_CONTEXT_UID, '1.2.840.10008.3.1.1.1');
  const rand = prng(5);
  for (let i = 0; i < 3000; i++) {
    const m = mutate(rand, i % 2 ? ac : encodeAssociateRj(REJECTION.noReasonGiven));
    try {
      classifyAssociateAnswer(m, rq);
    } catch (err) {
      t.fail(`mutated answer ${m.toString('hex')} threw ${(err as Error).message}`);
      break;
    }
  }
  t.match(randomAeTitle(), /^WG[0-9A-F]{14}$/, 'random AE title fits 16 characters');
});

t.test('HL7 answers', async (t) => {
  const id = 'WGSCANABCDEF';
  const probe = probeMessage(id);
  const request = encodeFrame(probe);
  t.match(probe, /^MSH\|\^~\\&\|WARDGATE-SCAN\|WARDGATE\|WARDGATE-PROBE\|WARDGATE\|\d{14}\|\|ZWG\^Z00\^ZWG_Z00\|WGSCANABCDEF\|D\|0\.0\r$/, 'header-only probe: Z type, processing D, version 0.0');
  t.notMatch(probe, /\rPID|\rPV1|\rOBR/, 'no patient, visit or order segment');
  const nak = encodeFrame(buildAck(probe, { code: 'AR', text: 'unsupported message type' }));
  const cases: Array<[string, Buffer, boolean]> = [
    ['AR NAK', nak, true],
    ['AA ACK', encodeFrame(buildAck(probe, { code: 'AA' })), true],
    ['ACK without trailer CR yet', nak.subarray(0, nak.length - 1), false],
    ['echo of the probe', request, false],
    ['unframed ACK text', Buffer.from(buildAck(probe, { code: 'AR' })), false],
    ['framed non-HL7', encodeFrame('hello'), false],
    ['framed MSH without MSA', encodeFrame('MSH|^~\\&|A|B|C|D|20260101||ADT^A01|1|P|2.5\r'), false],
    ['HTTP', Buffer.from('HTTP/1.0 400 Bad request\r\n'), false],
  ];
  for (const [label, data, hl7] of cases) {
    const r = classifyHl7Answer(data, request, id);
    t.equal(r.hl7, hl7, `${label}: ${r.hl7 ? r.ackCode : r.reason}`);
  }
});

t.test('raw ClientHello and ServerHello', async (t) => {
  const hello = buildClientHello(0x0302, [0x002f, 0x000a], 'pacs.klinikum.internal');
  t.equal(hello[0], 0x16, 'handshake record');
  t.equal(hello.readUInt16BE(3), hello.length - 5, 'record length');
  t.equal(hello[5], 1, 'ClientHello');
  t.equal(hello.readUInt16BE(9), 0x0302, 'client_version TLS 1.1');
  t.ok(hello.includes(Buffer.from('pacs.klinikum.internal')), 'SNI for host names');
  // ServerHello: TLS 1.0, TLS_RSA_WITH_3DES_EDE_CBC_SHA, empty session id.
  const body = Buffer.concat([Buffer.from([0x03, 0x01]), Buffer.alloc(32, 7), Buffer.from([0]), Buffer.from([0x00, 0x0a, 0])]);
  const sh = Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0, body.length + 4, 2, 0, 0, body.length]), body]);
  t.same(parseServerHello(sh), { accepted: true, version: 'TLSv1.0', suite: 0x000a, suiteName: 'TLS_RSA_WITH_3DES_EDE_CBC_SHA' });
  t.equal(parseServerHello(sh.subarray(0, 20)), undefined, 'incomplete: wait for more');
  t.same(parseServerHello(Buffer.from([0x15, 0x03, 0x03, 0, 2, 2, 70])), { accepted: false, reason: 'alert' });
  t.same(parseServerHello(Buffer.from('HTTP/1.1 400')), { accepted: false, reason: 'not a TLS record' });
  // Found in review: a record shorter than a ServerHello made parseServerHello read past the buffer
  // (RangeError in the socket's data handler: an uncaught exception that ended the whole scan).
  t.same(parseServerHello(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x01, 0x02])), { accepted: false, reason: 'truncated ServerHello' });
  t.same(parseServerHello(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x02, 0x00, 0x00, 0x06, 0x03])), { accepted: false, reason: 'truncated ServerHello' });
  for (let cut = 0; cut <= sh.length; cut++) {
    for (let len = 0; len <= sh.length; len += 3) {
      const m = Buffer.from(sh.subarray(0, cut));
      if (m.length >= 5) m.writeUInt16BE(len, 3);
      try {
        parseServerHello(m);
      } catch (err) {
        t.fail(`ServerHello cut at ${cut} with record length ${len} threw ${(err as Error).message}`);
      }
    }
  }
});
