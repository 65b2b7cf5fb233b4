import t from 'tap';
import {
  ABORT_REASON, ABORT_SOURCE, decodeAbort, decodePDataTf, decodePdu, decodeReleaseRp, decodeReleaseRq, describeAbort,
  encodeAbort, encodePDataTf, encodeReleaseRp, encodeReleaseRq,
} from '../../../src/protocols/dicom/index.ts';
import { expectCode } from '../fixtures/helpers.ts';

t.test('P-DATA-TF round-trips, including zero-length PDVs', async (t) => {
  const cases = [
    [{ contextId: 1, command: true, last: true, data: Buffer.from([1, 2, 3, 4]) }],
    [{ contextId: 1, command: false, last: false, data: Buffer.alloc(0) }],
    [
      { contextId: 3, command: true, last: false, data: Buffer.from('ab') },
      { contextId: 3, command: true, last: true, data: Buffer.alloc(0) },
      { contextId: 255, command: false, last: true, data: Buffer.alloc(1000, 7) },
    ],
  ];
  for (const pdvs of cases) {
    const pdu = encodePDataTf(pdvs);
    t.same(decodePDataTf(pdu.subarray(6)), pdvs);
    t.same(decodePdu(pdu), { kind: 'P-DATA-TF', value: pdvs });
  }
  t.same([...encodePDataTf([{ contextId: 5, command: true, last: true, data: Buffer.alloc(0) }])], [4, 0, 0, 0, 0, 6, 0, 0, 0, 2, 5, 3], 'zero-length PDV bytes');
  // PS3.8 E.2: reserved control bits are not tested.
  t.same(decodePDataTf(Buffer.from([0, 0, 0, 2, 1, 0xfc])), [{ contextId: 1, command: false, last: false, data: Buffer.alloc(0) }]);
});

t.test('hostile P-DATA-TF', async (t) => {
  const cases: Array<[string, number[]]> = [
    ['empty P-DATA-TF', []],
    ['PDV item length 0', [0, 0, 0, 0]],
    ['PDV item length 1', [0, 0, 0, 1, 1]],
    ['PDV item length beyond the PDU', [0, 0, 0, 9, 1, 3, 0]],
    ['PDV item length 2^32-1', [0xff, 0xff, 0xff, 0xff, 1, 3]],
    ['3 trailing bytes after a PDV', [0, 0, 0, 2, 1, 3, 0, 0, 0]],
    ['second PDV lies', [0, 0, 0, 2, 1, 3, 0, 0, 0, 3, 1, 3]],
  ];
  for (const [label, bytes] of cases) expectCode(t, () => decodePDataTf(Buffer.from(bytes)), 'PDU_MALFORMED', label);
  expectCode(t, () => encodePDataTf([]), 'PDU_MALFORMED', 'encode with no PDV');
  expectCode(t, () => encodePDataTf([{ contextId: 0, command: true, last: true, data: Buffer.alloc(0) }]), 'PDU_MALFORMED', 'encode context 0');
});

t.test('A-RELEASE-RQ/RP and A-ABORT', async (t) => {
  t.same([...encodeReleaseRq()], [5, 0, 0, 0, 0, 4, 0, 0, 0, 0]);
  t.same([...encodeReleaseRp()], [6, 0, 0, 0, 0, 4, 0, 0, 0, 0]);
  t.same(decodePdu(encodeReleaseRq()), { kind: 'A-RELEASE-RQ', value: {} });
  t.same(decodePdu(encodeReleaseRp()), { kind: 'A-RELEASE-RP', value: {} });
  t.same(decodeReleaseRq(Buffer.from([1, 2, 3, 4])), {}, 'reserved bytes are not tested');
  for (const abort of [
    { source: ABORT_SOURCE.ServiceUser, reason: 0 },
    { source: ABORT_SOURCE.ServiceProvider, reason: ABORT_REASON.UnexpectedPdu },
    { source: ABORT_SOURCE.ServiceProvider, reason: ABORT_REASON.InvalidPduParameterValue },
  ]) {
    const pdu = encodeAbort(abort);
    t.same([...pdu], [7, 0, 0, 0, 0, 4, 0, 0, abort.source, abort.reason]);
    t.same(decodeAbort(pdu.subarray(6)), abort);
  }
  t.equal(describeAbort({ source: 2, reason: 2 }), 'aborted by the service provider: unexpected PDU');
  for (const [label, fn] of [
    ['A-RELEASE-RQ body of 3', () => decodeReleaseRq(Buffer.alloc(3))],
    ['A-RELEASE-RP body of 5', () => decodeReleaseRp(Buffer.alloc(5))],
    ['A-ABORT body of 0', () => decodeAbort(Buffer.alloc(0))],
    ['A-ABORT PDU with a 5-byte length via decodePdu', () => decodePdu(Buffer.from([7, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0]))],
    ['unknown PDU type via decodePdu', () => decodePdu(Buffer.from([8, 0, 0, 0, 0, 0]))],
    ['encode abort reason 300', () => encodeAbort({ source: 2, reason: 300 })],
  ] as const) {
    expectCode(t, fn, 'PDU_MALFORMED', label);
  }
});
