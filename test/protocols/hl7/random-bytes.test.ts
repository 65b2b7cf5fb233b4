/**
 * Seeded random and mutated inputs: every HL7/MLLP parser either returns or throws a WardgateError.
 */
import t from 'tap';
import { MllpDecoder, buildAck, encodeFrame, escapeText, parseAck, parseMsh, unescapeText } from '../../../src/protocols/hl7/index.ts';
import { mutate, onlyTypedErrors, prng } from '../fixtures/helpers.ts';
import { ADT_A01, ORM_V231, ORU_V23 } from '../fixtures/hl7.ts';

const messages = [ADT_A01, ORM_V231, ORU_V23, buildAck(ADT_A01, { code: 'AE', text: 'x' }), 'MSH#$%*@#APP#FAC#####ADT$A04#9#P#2.4'].map((m) => Buffer.from(m, 'latin1'));
const streams = [Buffer.concat(messages.map((m) => encodeFrame(m))), ...messages.map((m) => encodeFrame(m))];
const ITERATIONS = 20_000;

t.test(`${ITERATIONS} random and mutated inputs: return or WardgateError`, async (t) => {
  const rand = prng(0x4c7_11e5);
  let failures = 0;
  let parsed = 0;
  const check = (what: string, input: Buffer, fn: () => unknown) => {
    const r = onlyTypedErrors(fn);
    if (!r.ok && failures++ < 5) t.fail(`${what} threw ${String(r.error)} on ${input.toString('hex')}`);
  };
  for (let i = 0; i < ITERATIONS; i++) {
    const stream = rand.int(4) ? mutate(rand, streams[rand.int(streams.length)]) : rand.bytes(rand.int(200));
    check('MllpDecoder', stream, () => {
      const decoder = new MllpDecoder({ maxFrameSize: 1 + rand.int(600) });
      for (let pos = 0; pos < stream.length; pos += 1 + rand.int(40)) {
        for (const payload of decoder.push(stream.subarray(pos, pos + 1 + rand.int(40)))) parseMsh(payload);
      }
      decoder.finish();
    });
    const message = rand.int(4) ? mutate(rand, messages[rand.int(messages.length)]) : rand.bytes(rand.int(120));
    check('parseMsh/buildAck', message, () => {
      const msh = parseMsh(message);
      parsed++;
      parseAck(buildAck(msh, { code: rand.int(2) ? 'AA' : 'AE', text: message.toString('latin1', 0, 20) }));
    });
    check('parseAck', message, () => parseAck(message));
    const text = message.toString('latin1');
    check('escape', message, () => {
      if (unescapeText(escapeText(text)) !== text) throw new Error('escape round trip lost data');
      unescapeText(text);
    });
  }
  t.equal(failures, 0, 'no parser threw anything but a WardgateError');
  t.ok(parsed > 1000, `${parsed} mutated messages still parsed`);
});
