/**
 * What makes floods cheap to check without changing what is checked: the instrumented backend decodes
 * a P-DATA-TF equal to the one before it (a flood repeats one PDU of 10,000 PDVs) once, and the
 * altered-bytes oracle reads a record in the pieces it arrived in, never joining megabytes.
 */
import net from 'node:net';
import t from 'tap';
import { InstrumentedBackend, repeatedPDataMemo } from '../../src/fuzz/backend.ts';
import { checkBackend } from '../../src/fuzz/oracles.ts';
import { StreamWindow } from '../../src/fuzz/stream-window.ts';
import {
  PduReader, TRANSFER_SYNTAX, SOP_CLASS, decodePdu, encodeAbort, encodeAssociateRq, encodeCEchoRq, encodePDataTf, encodeReleaseRq,
} from '../../src/protocols/dicom/index.ts';

const emptyFragments = (n: number) => Array.from({ length: n }, () => ({ contextId: 1, command: true, last: false, data: Buffer.alloc(0) }));
const rawOf = (pdu: Buffer) => new PduReader().push(pdu)[0];

t.test('a P-DATA-TF equal to the last one of many PDVs is decoded once; others as always', async (t) => {
  const decode = repeatedPDataMemo();
  const flood = encodePDataTf(emptyFragments(300));
  const first = decode(rawOf(flood));
  t.same(first, decodePdu(rawOf(flood)), 'the first is a plain decode');
  t.equal(decode(rawOf(Buffer.from(flood))), first, 'equal bytes in another buffer: the same decoded PDVs');
  const other = encodePDataTf([...emptyFragments(299), { contextId: 3, command: true, last: false, data: Buffer.alloc(0) }]);
  const second = decode(rawOf(other));
  t.not(second, first, 'one byte different: decoded afresh');
  t.equal(second.kind === 'P-DATA-TF' && second.value[299].contextId, 3);
  const small = encodePDataTf(emptyFragments(2));
  t.not(decode(rawOf(small)), decode(rawOf(small)), 'a P-DATA-TF of few PDVs is not remembered');
  t.throws(() => decode(rawOf(Buffer.from([4, 0, 0, 0, 0, 4, 0, 0, 0, 1]))), /below 2/, 'a malformed one still throws');
});

t.test('the backend answers a flood of equal PDUs that each end a command, once per PDU', async (t) => {
  const backend = new InstrumentedBackend({ protocol: 'dicom', host: '127.53.1.1' });
  const at = await backend.start();
  t.teardown(() => backend.stop());
  const rq = encodeAssociateRq({ calledAeTitle: 'PACS', callingAeTitle: 'FUZZSCU', presentationContexts: [{ id: 1, abstractSyntax: SOP_CLASS.Verification, transferSyntaxes: [TRANSFER_SYNTAX.ImplicitVrLittleEndian] }], userInformation: { maxLength: 16384, implementationClassUid: '1.2.3' } });
  // 299 empty command fragments, then the C-ECHO-RQ's last fragment: one whole command per PDU.
  const pdu = encodePDataTf([...emptyFragments(299), { contextId: 1, command: true, last: true, data: encodeCEchoRq({ messageId: 7 }) }]);
  const answers = await new Promise<Buffer>((resolve, reject) => {
    const socket = net.connect(at, () => socket.write(Buffer.concat([rq, pdu, pdu, Buffer.from(pdu), pdu, encodeReleaseRq()])));
    const got: Buffer[] = [];
    socket.on('data', (d) => got.push(d));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(got)));
  });
  const kinds = new PduReader().push(answers).map((p) => decodePdu(p).kind);
  t.same(kinds, ['A-ASSOCIATE-AC', 'P-DATA-TF', 'P-DATA-TF', 'P-DATA-TF', 'P-DATA-TF', 'A-RELEASE-RP'], 'four C-ECHO-RSPs: no PDU skipped');
  t.equal(backend.drain()[0]?.decodeError, undefined);
});

t.test('altered bytes: a record read in pieces gets the verdict of its joined bytes, without joining them', async (t) => {
  const peer = { address: '127.0.0.1', subjects: [], sans: [] };
  const sent = [Buffer.from('0100000000200001000050414353202020', 'hex'), Buffer.alloc(30, 0x41), Buffer.alloc(25, 0x42)];
  const whole = Buffer.concat(sent);
  const w = new StreamWindow<string>('dicom', 60_000);
  w.add(1, sent, 'x');
  const abort = encodeAbort({ source: 2, reason: 0 });
  const altered = Buffer.from(whole);
  altered[50] ^= 1;
  const cases: Array<[string, Buffer]> = [
    ['a prefix', whole.subarray(0, 40)],
    ['the whole stream', whole],
    ['a prefix and the gateway A-ABORT', Buffer.concat([whole.subarray(0, 33), abort])],
    ['one byte changed', altered],
    ['more than was sent', Buffer.concat([whole, Buffer.from([1])])],
    ['an A-ABORT that is not the gateway\'s', Buffer.concat([whole.subarray(0, 33), encodeAbort({ source: 0, reason: 0 })])],
  ];
  for (const [what, bytes] of cases) {
    const expected = checkBackend('dicom', { id: 1, openedAt: 0, received: bytes, sent: Buffer.alloc(0), messages: [] }, w, undefined, peer)?.location;
    for (const cuts of [[5], [16, 17], [9, 30, bytes.length - 4], [bytes.length - 10, bytes.length - 9], [1, 2, 3, 60]]) {
      const pieces: Buffer[] = [];
      let from = 0;
      for (const c of [...cuts.filter((c) => c > 0 && c < bytes.length), bytes.length]) {
        pieces.push(bytes.subarray(from, c));
        from = c;
      }
      const record = { id: 1, openedAt: 0, get received(): Buffer { throw new Error('joined'); }, receivedChunks: pieces, sent: Buffer.alloc(0), messages: [] };
      t.equal(checkBackend('dicom', record, w, undefined, peer)?.location, expected, `${what}, cut at ${cuts.join(',')}: ${expected ?? 'passes'}`);
    }
  }
  t.equal(w.closest([whole.subarray(0, 20), whole.subarray(20, 40)])?.tag, 'x', 'the culprit is found from pieces too');
});
