import t from 'tap';
import {
  AssociationTracker, type DecodedPdu, type PduSender, REJECTION, decodePdu, encodeAbort, encodeAssociateAc, encodeAssociateRj,
  encodeAssociateRq, encodePDataTf, encodeReleaseRp, encodeReleaseRq,
} from '../../../src/protocols/dicom/index.ts';
import { fullAc, fullRq } from '../fixtures/dicom.ts';

const pdus = {
  rq: decodePdu(encodeAssociateRq(fullRq())),
  ac: decodePdu(encodeAssociateAc(fullAc())), // accepts context 1, rejects 3
  acUnknown: decodePdu(encodeAssociateAc({ ...fullAc(), presentationContexts: [{ id: 9, result: 0, transferSyntax: '1.2.840.10008.1.2' }] })),
  rj: decodePdu(encodeAssociateRj(REJECTION.calledAeTitleNotRecognized)),
  data1: decodePdu(encodePDataTf([{ contextId: 1, command: true, last: true, data: Buffer.alloc(2) }])),
  data3: decodePdu(encodePDataTf([{ contextId: 3, command: true, last: true, data: Buffer.alloc(2) }])),
  relRq: decodePdu(encodeReleaseRq()),
  relRp: decodePdu(encodeReleaseRp()),
  abort: decodePdu(encodeAbort({ source: 0, reason: 0 })),
} satisfies Record<string, DecodedPdu>;

type Step = [keyof typeof pdus, PduSender];
const R = 'requestor';
const A = 'acceptor';

t.test('legal sequences', async (t) => {
  const sequences: Array<[string, Step[], string]> = [
    ['echo then release', [['rq', R], ['ac', A], ['data1', R], ['data1', A], ['relRq', R], ['relRp', A]], 'closed'],
    ['rejected', [['rq', R], ['rj', A]], 'closed'],
    ['abort while pending', [['rq', R], ['abort', R]], 'closed'],
    ['acceptor sends data before replying to release', [['rq', R], ['ac', A], ['relRq', R], ['data1', A], ['relRp', A]], 'closed'],
    ['release collision', [['rq', R], ['ac', A], ['relRq', R], ['relRq', A], ['relRp', A], ['relRp', R]], 'closed'],
    ['acceptor releases', [['rq', R], ['ac', A], ['relRq', A], ['relRp', R]], 'closed'],
    ['established', [['rq', R], ['ac', A], ['data1', A]], 'established'],
  ];
  for (const [label, steps, phase] of sequences) {
    const tracker = new AssociationTracker();
    const violations = steps.map(([pdu, from]) => tracker.observe(pdus[pdu], from).violation).filter(Boolean);
    t.same(violations, [], `${label}: no violation`);
    t.equal(tracker.phase, phase, `${label}: ends ${phase}`);
  }
});

t.test('protocol-order violations are flagged with an abort', async (t) => {
  const sequences: Array<[string, Step[], RegExp]> = [
    ['P-DATA before association', [['data1', R]], /P-DATA-TF from the requestor before an association was requested/],
    ['second A-ASSOCIATE-RQ', [['rq', R], ['ac', A], ['rq', R]], /A-ASSOCIATE-RQ .* on an established association/],
    ['RQ while pending', [['rq', R], ['rq', R]], /while the association request is pending/],
    ['AC from the requestor', [['rq', R], ['ac', R]], /pending/],
    ['AC first', [['ac', A]], /before an association was requested/],
    ['data on a rejected context', [['rq', R], ['ac', A], ['data3', R]], /context 3, which was not accepted/],
    ['AC answers an unproposed context', [['rq', R], ['acUnknown', A]], /never proposed/],
    ['requestor sends data after its release RQ', [['rq', R], ['ac', A], ['relRq', R], ['data1', R]], /after it requested release/],
    ['RP without RQ', [['rq', R], ['ac', A], ['relRp', A]], /established/],
    ['RP from the side that asked', [['rq', R], ['ac', A], ['relRq', R], ['relRp', R]], /during release/],
    ['anything after close', [['rq', R], ['rj', A], ['data1', R]], /after the association closed/],
  ];
  for (const [label, steps, message] of sequences) {
    const tracker = new AssociationTracker();
    const results = steps.map(([pdu, from]) => tracker.observe(pdus[pdu], from));
    const last = results[results.length - 1];
    t.same(results.slice(0, -1).filter((r) => r.violation), [], `${label}: earlier steps are fine`);
    t.match(last.violation?.message, message, `${label}: ${last.violation?.message}`);
    t.equal(last.violation?.abort.source, 2, `${label}: provider abort`);
    t.equal(tracker.phase, 'closed', `${label}: tracker closed`);
  }
});
