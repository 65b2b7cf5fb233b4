/**
 * PduFramer: table-driven good and hostile inputs, split at every byte boundary; data set fragments
 * pass through as slices (never collected), control and command PDUs arrive whole; bad headers throw
 * typed errors and the framer stays failed.
 */
import t from 'tap';
import { isWardgateError } from '../../src/errors.ts';
import { encodeAbort, encodeAssociateRq, encodePDataTf, encodeReleaseRq, SOP_CLASS, TRANSFER_SYNTAX } from '../../src/protocols/dicom/index.ts';
import { PduFramer, type Segment } from '../../src/proxy/pdu-framer.ts';
import { mutate, prng } from '../protocols/fixtures/helpers.ts';

const RQ = encodeAssociateRq({
  calledAeTitle: 'PACS', callingAeTitle: 'CT1',
  presentationContexts: [{ id: 1, abstractSyntax: SOP_CLASS.Verification, transferSyntaxes: [TRANSFER_SYNTAX.ImplicitVrLittleEndian] }],
  userInformation: { maxLength: 16384, implementationClassUid: '1.2.3.4' },
});
const COMMAND = encodePDataTf([{ contextId: 1, command: true, last: true, data: Buffer.alloc(80, 1) }]);
const DATA = encodePDataTf([{ contextId: 3, command: false, last: false, data: Buffer.alloc(5000, 7) }]);
const STREAM = Buffer.concat([RQ, COMMAND, DATA, DATA, encodeReleaseRq()]);

function run(chunks: Buffer[], max = 1 << 20): { segments: Segment[]; bytes: Buffer } {
  const f = new PduFramer({ maxPduLength: max });
  const segments = chunks.flatMap((c) => f.push(c));
  return { segments, bytes: Buffer.concat(segments.map((s) => (s.kind === 'whole' ? s.pdu.raw : s.bytes))) };
}

t.test('good stream: same bytes out at every split point; data passes, control/command whole', async (t) => {
  for (let cut = 1; cut < STREAM.length; cut += 37) {
    const { segments, bytes } = run([STREAM.subarray(0, cut), STREAM.subarray(cut)]);
    if (!bytes.equals(STREAM)) return void t.fail(`bytes differ when split at ${cut}`);
    const wholes = segments.filter((s) => s.kind === 'whole').map((s) => (s.kind === 'whole' ? s.pdu.type : 0));
    if (wholes.join() !== '1,4,5') return void t.fail(`whole PDUs ${wholes} when split at ${cut}`);
  }
  t.pass('split at many points');
  const oneByte = run([...STREAM].map((b) => Buffer.from([b])));
  t.ok(oneByte.bytes.equals(STREAM), 'byte-at-a-time');
  const firsts = oneByte.segments.filter((s) => s.kind === 'pass' && s.first);
  t.same(firsts.map((s) => (s.kind === 'pass' ? s.first : undefined)), [{ contextId: 3, last: false }, { contextId: 3, last: false }], 'pass-through PDUs report their first PDV');
});

t.test('hostile headers', async (t) => {
  const cases: Array<[string, Buffer, string, RegExp]> = [
    ['unknown type', Buffer.from([0x09, 0, 0, 0, 0, 4, 0, 0, 0, 0]), 'PDU_MALFORMED', /unknown PDU type 0x09/],
    ['huge length', Buffer.from([0x04, 0, 0xff, 0xff, 0xff, 0xff]), 'PDU_TOO_LARGE', /above the maximum/],
    ['abort with length 5', Buffer.from([0x07, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0]), 'PDU_MALFORMED', /fixes it at 4/],
    ['P-DATA too short for a PDV', Buffer.from([0x04, 0, 0, 0, 0, 3, 0, 0, 0]), 'PDU_MALFORMED', /cannot hold a PDV item/],
    ['PDV longer than PDU', Buffer.from([0x04, 0, 0, 0, 0, 8, 0, 0, 0, 9, 1, 0, 0, 0]), 'PDU_MALFORMED', /does not fit/],
    ['PDV length 1', Buffer.from([0x04, 0, 0, 0, 0, 8, 0, 0, 0, 1, 1, 0, 0, 0]), 'PDU_MALFORMED', /does not fit/],
    ['even context ID', Buffer.from([0x04, 0, 0, 0, 0, 8, 0, 0, 0, 4, 2, 0, 0, 0]), 'PDU_MALFORMED', /context ID 2/],
    ['A-ASSOCIATE-RQ above the control cap', Buffer.from([0x01, 0, 0, 0x10, 0, 0]), 'PDU_TOO_LARGE', /A-ASSOCIATE-RQ of length 1048576 exceeds 262144/],
    ['command PDU above command cap', Buffer.from([0x04, 0, 0, 0x10, 0, 0, 0, 0x0f, 0xff, 0xfc, 1, 3]), 'PDU_TOO_LARGE', /command-carrying/],
  ];
  for (const [name, bytes, code, pattern] of cases) {
    const f = new PduFramer({ maxPduLength: 1 << 22, maxCommandPduLength: 64 * 1024 });
    try {
      f.push(bytes);
      t.fail(`${name}: accepted`);
    } catch (err) {
      t.ok(isWardgateError(err) && err.code === code && pattern.test(err.message), `${name}: ${(err as Error).message}`);
      try {
        f.push(Buffer.from(RQ));
        t.fail(`${name}: usable after failure`);
      } catch {
        t.pass(`${name}: stays failed`);
      }
    }
  }
});

t.test('random mutations: typed errors only, never more bytes out than in', async (t) => {
  const rand = prng(7);
  let bad = 0;
  for (let i = 0; i < 3000; i++) {
    const input = mutate(rand, STREAM);
    const f = new PduFramer({ maxPduLength: 65536 });
    let out = 0;
    try {
      for (const s of f.push(input)) out += s.kind === 'whole' ? s.pdu.raw.length : s.bytes.length;
    } catch (err) {
      if (!isWardgateError(err)) bad++;
    }
    if (out > input.length) bad++;
  }
  t.equal(bad, 0, 'no untyped error, no invented bytes');
  t.ok(encodeAbort({ source: 2, reason: 0 }).length === 10);
});

t.test('every PDV of a pass-through P-DATA-TF is checked; a command PDV behind a data set PDV is refused', async (t) => {
  // Found in review: only the first PDV header of a pass-through P-DATA-TF was checked, so a command
  // fragment (a C-MOVE-RQ) packed behind a data set fragment reached the SCP without the relay's
  // command inspection, and later PDVs' presentation contexts were never checked.
  const two = encodePDataTf([{ contextId: 3, command: false, last: true, data: Buffer.alloc(40, 7) }, { contextId: 5, command: false, last: false, data: Buffer.alloc(0) }, { contextId: 3, command: false, last: false, data: Buffer.alloc(9, 8) }]);
  for (let cut = 1; cut < two.length; cut++) {
    const { segments, bytes } = run([two.subarray(0, cut), two.subarray(cut)]);
    if (!bytes.equals(two)) return void t.fail(`bytes differ when split at ${cut}`);
    const firsts = segments.flatMap((s) => (s.kind === 'pass' && s.first ? [s.first] : []));
    if (JSON.stringify(firsts) !== JSON.stringify([{ contextId: 3, last: true }, { contextId: 5, last: false }, { contextId: 3, last: false }])) return void t.fail(`PDV reports ${JSON.stringify(firsts)} when split at ${cut}`);
  }
  t.pass('each PDV header reported, at every split point');
  const f = new PduFramer({ maxPduLength: 1 << 20 });
  const data = encodePDataTf([{ contextId: 1, command: false, last: true, data: Buffer.alloc(4000, 7) }]);
  t.ok(f.push(data.subarray(0, 20)).length > 0 && f.passThrough(data.subarray(20)), 'data set bytes still take the fast path');
  t.ok(f.idle, 'idle after the PDU');
  const cases: Array<[string, Buffer, RegExp]> = [
    ['command behind data', encodePDataTf([{ contextId: 1, command: false, last: true, data: Buffer.alloc(10) }, { contextId: 1, command: true, last: true, data: Buffer.alloc(10) }]), /command fragment after a data set fragment/],
    ['even context in the second PDV', encodePDataTf([{ contextId: 1, command: false, last: true, data: Buffer.alloc(10) }, { contextId: 2, command: false, last: true, data: Buffer.alloc(10) }]), /context ID 2/],
    ['second PDV longer than the PDU', (() => { const b = encodePDataTf([{ contextId: 1, command: false, last: true, data: Buffer.alloc(10) }, { contextId: 1, command: false, last: true, data: Buffer.alloc(10) }]); b.writeUInt32BE(99, 6 + 16); return b; })(), /does not fit/],
    ['trailing bytes after the last PDV', (() => { const b = encodePDataTf([{ contextId: 1, command: false, last: true, data: Buffer.alloc(10) }]); const out = Buffer.concat([b, Buffer.alloc(3)]); out.writeUInt32BE(b.length - 6 + 3, 2); return out; })(), /trailing byte/],
  ];
  for (const [name, bytes, pattern] of cases) {
    let error: unknown;
    const framer = new PduFramer({ maxPduLength: 1 << 20 });
    try {
      for (const b of bytes) framer.push(Buffer.from([b]));
    } catch (err) {
      error = err;
    }
    t.ok(isWardgateError(error, 'PDU_MALFORMED') && pattern.test((error as Error).message), `${name}: ${(error as Error | undefined)?.message}`);
  }
});

t.test('a PDU collected across chunks keeps its bytes when the caller reuses a chunk after push() (pooled reads)', async (t) => {
  for (const [name, pdu] of [['A-ASSOCIATE-RQ', RQ], ['command P-DATA-TF', COMMAND]] as const) {
    for (const cut of [1, 6, 12, 40, pdu.length - 1]) {
      const f = new PduFramer({ maxPduLength: 1 << 20 });
      const first = Buffer.from(pdu.subarray(0, cut));
      const segments = f.push(first);
      // The relay's read buffer goes back to its pool and is refilled with later bytes.
      first.fill(0xee);
      segments.push(...f.push(Buffer.from(pdu.subarray(cut))));
      const whole = segments.filter((s) => s.kind === 'whole');
      if (whole.length !== 1 || !whole[0].pdu.raw.equals(pdu)) return void t.fail(`${name} split at ${cut}: the collected PDU changed with the reused chunk`);
    }
    t.pass(`${name}: intact at every split`);
  }
});
