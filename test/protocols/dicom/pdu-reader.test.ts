import t from 'tap';
import {
  DEFAULT_MAX_PDU_LENGTH, PduReader, type RawPdu, encodeAbort, encodeAssociateRq, encodePDataTf, encodeReleaseRp, encodeReleaseRq, peekHeader,
} from '../../../src/protocols/dicom/index.ts';
import { expectCode } from '../fixtures/helpers.ts';
import { fullRq } from '../fixtures/dicom.ts';

const stream = [
  encodeAssociateRq(fullRq()),
  encodePDataTf([{ contextId: 1, command: true, last: true, data: Buffer.from('command!') }]),
  encodePDataTf([{ contextId: 1, command: false, last: true, data: Buffer.alloc(0) }]),
  encodeReleaseRq(),
  encodeReleaseRp(),
  encodeAbort({ source: 2, reason: 1 }),
];
const all = Buffer.concat(stream);

function feed(reader: PduReader, chunks: Buffer[]): RawPdu[] {
  return chunks.flatMap((c) => reader.push(c));
}

t.test('good streams: whole, byte by byte, split at every boundary', async (t) => {
  const whole = feed(new PduReader(), [all]);
  t.same(whole.map((p) => p.raw), stream, 'whole stream yields every PDU');
  t.same(whole.map((p) => p.type), [1, 4, 4, 5, 6, 7]);
  t.same(whole[1].body, stream[1].subarray(6), 'body is the bytes after the header');
  const reader = new PduReader();
  const bytewise = feed(reader, [...all].map((b) => Buffer.from([b])));
  t.same(bytewise.map((p) => p.raw), stream, 'byte-by-byte feeding yields the same PDUs');
  reader.finish();
  let ok = true;
  for (let cut = 0; cut <= all.length; cut++) {
    const r = new PduReader();
    const got = feed(r, [all.subarray(0, cut), all.subarray(cut)]);
    if (got.length !== stream.length || !got.every((p, i) => p.raw.equals(stream[i]))) ok = false;
    r.finish();
  }
  t.ok(ok, `every one of ${all.length + 1} split points yields the same PDUs`);
});

t.test('the reader never holds more than one PDU', async (t) => {
  const reader = new PduReader({ maxPduLength: 1000 });
  let max = 0;
  for (const b of all) {
    reader.push(Buffer.from([b]));
    max = Math.max(max, reader.pendingBytes);
  }
  t.ok(max <= Math.max(...stream.map((s) => s.length)), `peak buffered ${max} bytes`);
  t.equal(reader.pendingBytes, 0);
});

t.test('hostile headers', async (t) => {
  for (const type of [0x00, 0x08, 0x10, 0xff]) {
    const reader = new PduReader();
    expectCode(t, () => reader.push(Buffer.from([type])), 'PDU_MALFORMED', `unknown type 0x${type.toString(16)} rejected on its first byte`);
    expectCode(t, () => reader.push(Buffer.from([0])), 'PDU_MALFORMED', 'reader stays failed');
  }
  const big = Buffer.from([4, 0, 0, 0, 0, 0]);
  big.writeUInt32BE(DEFAULT_MAX_PDU_LENGTH + 1, 2);
  const reader = new PduReader();
  t.same(reader.push(big.subarray(0, 5)), [], 'five header bytes: still waiting');
  expectCode(t, () => reader.push(big.subarray(5)), 'PDU_TOO_LARGE', 'oversized PDU rejected on the 6th byte, before any body');
  t.equal(reader.pendingBytes, 0, 'nothing kept after failure');
  expectCode(t, () => new PduReader().push(Buffer.from([1, 0, 0xff, 0xff, 0xff, 0xff])), 'PDU_TOO_LARGE', '4 GiB A-ASSOCIATE-RQ');
  const small = new PduReader({ maxPduLength: 100 });
  t.equal(small.push(encodePDataTf([{ contextId: 1, command: true, last: true, data: Buffer.alloc(94) }])).length, 1, 'PDU of exactly maxPduLength accepted');
  expectCode(t, () => small.push(encodePDataTf([{ contextId: 1, command: true, last: true, data: Buffer.alloc(95) }])), 'PDU_TOO_LARGE', 'maxPduLength + 1');
  for (const [label, bytes] of [
    ['A-RELEASE-RQ of length 5', [5, 0, 0, 0, 0, 5]],
    ['A-RELEASE-RP of length 0', [6, 0, 0, 0, 0, 0]],
    ['A-ABORT of length 3', [7, 0, 0, 0, 0, 3]],
    ['A-ASSOCIATE-RJ of length 1000', [3, 0, 0, 0, 3, 0xe8]],
  ] as const) {
    expectCode(t, () => new PduReader().push(Buffer.from(bytes)), 'PDU_MALFORMED', label);
  }
  t.equal(peekHeader(Buffer.from([4, 0, 0])), undefined, 'peekHeader waits for 6 bytes');
  t.same(peekHeader(Buffer.from([4, 0, 0, 0, 0, 9])), { type: 4, length: 9, totalLength: 15 });
  t.same(peekHeader(Buffer.from([9, 9, 4, 0, 0, 0, 0, 9]), { offset: 2 }), { type: 4, length: 9, totalLength: 15 }, 'peekHeader at an offset');
  expectCode(t, () => peekHeader(Buffer.from([4, 0, 0, 0, 1, 0]), { maxPduLength: 255 }), 'PDU_TOO_LARGE', 'peekHeader applies the limit');
  t.throws(() => new PduReader({ maxPduLength: -1 }), RangeError, 'a nonsensical limit is a programming error');
});

t.test('truncated PDUs fed byte by byte are reported at end of stream', async (t) => {
  for (const pdu of stream) {
    for (const keep of [1, 5, 6, pdu.length - 1]) {
      const reader = new PduReader();
      let yielded = 0;
      for (const b of pdu.subarray(0, keep)) yielded += reader.push(Buffer.from([b])).length;
      t.equal(yielded, 0, `type ${pdu[0]} cut after ${keep}: nothing yielded`);
      expectCode(t, () => reader.finish(), 'PDU_MALFORMED', `type ${pdu[0]} cut after ${keep} of ${pdu.length} bytes`);
    }
  }
});
