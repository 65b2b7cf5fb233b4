import t from 'tap';
import { DEFAULT_ENCODING, buildAck, decodedViews, parseMsh, refusalAckCode, structureOf, wantsNoAcknowledgment } from '../../../src/protocols/hl7/index.ts';

const latin1 = (s: string) => Buffer.from(s, 'latin1');
// MSH-8 and MSH-17 are filled so that a reading one field off still has an MSH-9 and an MSH-18.
const msh18 = (charset: string, extra = '') => latin1(`MSH|^~\\&|RIS|RAD${extra}|LIS|LAB|20261126|SEC|ADT^A01|1|P|2.5|||||${charset}|${charset}\r`);

t.test('decodedViews and structureOf: a reading with other delimiters is told apart', async (t) => {
  const same = (payload: Buffer) => decodedViews(payload, parseMsh(payload)).map((v) => structureOf(v.text, DEFAULT_ENCODING) === structureOf(payload.toString('latin1'), DEFAULT_ENCODING));
  t.same(decodedViews(msh18(''), parseMsh(msh18(''))), [], 'no MSH-18: the byte view only');
  t.same(decodedViews(msh18('X-UNKNOWN'), parseMsh(msh18('X-UNKNOWN'))), [], 'an unknown MSH-18: the byte view only');
  t.same(same(msh18('UNICODE UTF-8', '\xc3\x9c')), [true], 'UTF-8: never ambiguous');
  t.same(same(msh18('UNICODE UTF-8', '\xc3|')), [true], 'broken UTF-8 keeps its ASCII delimiters');
  t.same(same(msh18('8859/1', '\xdc')), [true], '8859/1: never ambiguous');
  t.same(same(msh18('BIG-5', '\xa4\xa4')), [true], 'BIG-5 without delimiter bytes in characters');
  t.same(same(msh18('BIG-5', '\xa4|')), [false], 'BIG-5: 0xA4 0x7C is one character');
  t.same(same(msh18('GB 18030', '\x81|')), [false], 'GB 18030');
  t.same(same(msh18('SJIS', '\x81|')), [false], 'a WHATWG label (Shift_JIS) is honoured too');
  t.same(same(msh18('~ISO IR87', '\x1b$B0|\x1b(B')), [false], 'ISO IR87 as a code extension (second repetition of MSH-18)');
  t.same(same(msh18('', '\x1b$B0|\x1b(B')), [false], 'an ESC switch without any MSH-18');
  t.same(decodedViews(msh18('BIG-5~BIG-5'), parseMsh(msh18('BIG-5~BIG-5'))).length, 1, 'one view per character set');
  // Found in review: MSH-18 past an LF inside the MSH is beyond the MSH as the gateway splits it, but
  // a receiver ending segments at CR only reads it there and decodes by it.
  const pastLf = latin1('MSH|^~\\&|RIS|RAD|LIS|LAB\xa4|20261126||ADT^A01|ORU^R01|P|2.5\n||||||BIG-5\rPID|1\r');
  t.equal(parseMsh(pastLf).fields[18], undefined, 'the gateway\'s MSH ends at the LF');
  t.same(decodedViews(pastLf, parseMsh(pastLf)).map((v) => v.charset), ['BIG-5'], 'MSH-18 as a CR-only receiver reads it is decoded with too');
  t.same(same(pastLf), [false], 'and its BIG-5 reading is told apart');
  const pastLfTrailing = latin1('MSH|^~\\&|RIS|RAD|LIS|LAB|20261126||ADT^A01|1|P|2.5\n||||||UNICODE UTF-8\nPID|1\r');
  t.same(decodedViews(pastLfTrailing, parseMsh(pastLfTrailing)).map((v) => v.charset), ['UNICODE UTF-8'], 'a value running on past another LF is read up to it');
});

t.test('enhanced mode: the refusal acknowledgment follows MSH-15/16 (HL7 v2.5 §2.9.3)', async (t) => {
  const msg = (accept: string, application: string) => parseMsh(`MSH|^~\\&|A|B|C|D|20261126||ORU^R01|9|P|2.5|||${accept}|${application}`);
  const cases: Array<[string, string, string | undefined, boolean]> = [
    ['', '', 'AR', false], ['AL', '', 'CR', false], ['ER', 'NE', 'CR', false], ['XX', 'NE', 'CR', false],
    ['NE', 'AL', 'AR', false], ['SU', 'ER', 'AR', false], ['NE', '', 'AR', false], ['NE', 'NE', undefined, true], ['SU', 'SU', undefined, false], ['ne', 'ne', undefined, true],
  ];
  for (const [accept, application, code, none] of cases) {
    t.equal(refusalAckCode(msg(accept, application)), code, `MSH-15 ${JSON.stringify(accept)} MSH-16 ${JSON.stringify(application)}: ${code ?? 'none'}`);
    t.equal(wantsNoAcknowledgment(msg(accept, application)), none, `MSH-15 ${JSON.stringify(accept)} MSH-16 ${JSON.stringify(application)}: waits for an ACK: ${!none}`);
  }
});

t.test('the ACK declares the original MSH-18 (HL7 v2.5 §2.14.9.18)', async (t) => {
  const ack = buildAck(msh18('UNICODE UTF-8', '\xc3\x9c').toString('latin1'), { controlId: 'A', dateTime: new Date(0) });
  t.equal(ack.split('\r')[0], 'MSH|^~\\&|LIS|LAB|RIS|RAD\xc3\x9c|19700101000000+0000||ACK^A01^ACK|A|P|2.5||||||UNICODE UTF-8', 'MSH-18 echoed');
  t.notMatch(buildAck('MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5').split('\r')[0], /\|\|$/, 'no MSH-18, no trailing empty fields');
});
