import t from 'tap';
import { MllpDecoder, encodeFrame } from '../../../src/protocols/hl7/index.ts';
import { expectCode } from '../fixtures/helpers.ts';
import { ADT_A01, ORM_V231 } from '../fixtures/hl7.ts';

const messages = [ADT_A01, ORM_V231, 'X', 'MSH|^~\\&|ÄÖÜ|é|||||ADT^A01|1|P|2.5\r'];
const frames = messages.map((m) => encodeFrame(m));
const text = (b: Buffer) => b.toString('latin1');
const stream = Buffer.concat(frames);

t.test('encodeFrame and good streams', async (t) => {
  t.same([...encodeFrame('AB')], [0x0b, 0x41, 0x42, 0x1c, 0x0d]);
  t.same([...encodeFrame('\u00c4')], [0x0b, 0xc4, 0x1c, 0x0d], 'strings are byte strings (latin1), as parseMsh reads them');
  t.same([...encodeFrame('\u00c4', 'utf8')], [0x0b, 0xc3, 0x84, 0x1c, 0x0d], 'or encoded as asked');
  t.same(new MllpDecoder().push(stream).map(text), messages, 'whole stream');
  const bytewise = new MllpDecoder();
  t.same([...stream].flatMap((b) => bytewise.push(Buffer.from([b]))).map(text), messages, 'byte by byte');
  let ok = true;
  for (let cut = 0; cut <= stream.length; cut++) {
    const d = new MllpDecoder();
    const got = [...d.push(stream.subarray(0, cut)), ...d.push(stream.subarray(cut))].map(text);
    if (JSON.stringify(got) !== JSON.stringify(messages)) ok = false;
    d.finish();
  }
  t.ok(ok, `frames split at each of ${stream.length + 1} boundaries`);
  const tolerant = new MllpDecoder();
  t.same(tolerant.push(Buffer.concat([Buffer.from('\r\n \t'), frames[2], Buffer.from('\n\r\n'), frames[2], Buffer.from('\r')])).length, 2, 'CR/LF/space/tab between frames tolerated');
  tolerant.finish();
  t.same(new MllpDecoder().push(Buffer.from([0x0b, 0x1c, 0x0d])), [Buffer.alloc(0)], 'empty frame is returned as an empty payload');
  expectCode(t, () => encodeFrame('a\x1cb'), 'MLLP_FRAME_INVALID', 'cannot frame a message holding 0x1C');
  expectCode(t, () => encodeFrame(Buffer.from([0x0b])), 'MLLP_FRAME_INVALID', 'cannot frame a message holding 0x0B');
});

t.test('hostile streams', async (t) => {
  const cases: Array<[string, Buffer]> = [
    ['garbage before the first frame', Buffer.concat([Buffer.from('GET / HTTP/1.1\r\n'), frames[0]])],
    ['garbage between frames', Buffer.concat([frames[0], Buffer.from('x'), frames[1]])],
    ['NUL between frames', Buffer.concat([frames[0], Buffer.from([0]), frames[1]])],
    ['nested 0x0B', Buffer.from([0x0b, 0x41, 0x0b, 0x42, 0x1c, 0x0d])],
    ['0x1C followed by LF', Buffer.from([0x0b, 0x41, 0x1c, 0x0a])],
    ['0x1C followed by 0x1C', Buffer.from([0x0b, 0x41, 0x1c, 0x1c, 0x0d])],
    ['0x1C outside a frame', Buffer.from([0x1c, 0x0d])],
    ['bare message without framing', Buffer.from(ORM_V231)],
  ];
  for (const [label, bytes] of cases) {
    expectCode(t, () => new MllpDecoder().push(bytes), 'MLLP_FRAME_INVALID', label);
    const bytewise = new MllpDecoder();
    expectCode(t, () => { for (const b of bytes) bytewise.push(Buffer.from([b])); }, 'MLLP_FRAME_INVALID', `${label}, byte by byte`);
    expectCode(t, () => bytewise.push(frames[2]), 'MLLP_FRAME_INVALID', `${label}: decoder stays failed`);
  }
  for (const [label, bytes] of [
    ['missing 0x0D at end of stream', Buffer.from([0x0b, 0x41, 0x1c])],
    ['missing 0x1C 0x0D at end of stream', Buffer.from([0x0b, 0x41])],
    ['lone start block', Buffer.from([0x0b])],
  ] as const) {
    const d = new MllpDecoder();
    t.same(d.push(bytes), [], `${label}: nothing yielded`);
    expectCode(t, () => d.finish(), 'MLLP_FRAME_INVALID', label);
  }
});

t.test('frame size limit', async (t) => {
  const d = new MllpDecoder({ maxFrameSize: 10 });
  t.same(d.push(encodeFrame('0123456789')).map(String), ['0123456789'], 'exactly the maximum is accepted');
  expectCode(t, () => new MllpDecoder({ maxFrameSize: 10 }).push(encodeFrame('0123456789A')), 'MLLP_FRAME_TOO_LARGE', 'maximum + 1');
  const slow = new MllpDecoder({ maxFrameSize: 10 });
  slow.push(Buffer.from([0x0b]));
  for (let i = 0; i < 10; i++) slow.push(Buffer.from('x'));
  expectCode(t, () => slow.push(Buffer.from('x')), 'MLLP_FRAME_TOO_LARGE', 'raised on the first byte past the limit');
  const huge = new MllpDecoder({ maxFrameSize: 1024 });
  expectCode(t, () => huge.push(Buffer.concat([Buffer.from([0x0b]), Buffer.alloc(5 * 1024 * 1024, 0x41)])), 'MLLP_FRAME_TOO_LARGE', '5 MiB without a trailer');
  t.ok(huge.inFrame === true || huge.inFrame === false);
});
