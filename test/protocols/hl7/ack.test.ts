import t from 'tap';
import { HL7_ERROR, buildAck, parseAck, parseMsh, splitSegments } from '../../../src/protocols/hl7/index.ts';
import { expectCode } from '../fixtures/helpers.ts';
import { ADT_A01, ORM_V231, ORU_V23 } from '../fixtures/hl7.ts';

const when = new Date(Date.UTC(2024, 4, 1, 12, 30, 5));

t.test('ACK for v2.5.1: AA, AE and AR', async (t) => {
  const aa = buildAck(ADT_A01, { controlId: 'ACK1', dateTime: when });
  t.equal(aa, 'MSH|^~\\&|HIS|KLINIKUM|RIS|RADIOLOGY^1.2.3^ISO|20240501123005+0000||ACK^A01^ACK|ACK1|P|2.5.1\rMSA|AA|MSG00001\r');
  t.same({ ...parseAck(aa), msh: undefined }, { code: 'AA', controlIdReferenced: 'MSG00001', text: '', errorCodes: [], msh: undefined });
  const ae = buildAck(parseMsh(ADT_A01), { code: 'AE', text: 'PID-3 missing|bad', errorCode: HL7_ERROR.RequiredFieldMissing, dateTime: when, controlId: 'ACK2' });
  const segments = splitSegments(ae);
  t.equal(segments[1], 'MSA|AE|MSG00001|PID-3 missing\\F\\bad', 'reason text escaped in MSA-3');
  t.equal(segments[2], 'ERR|||101^Required field missing^HL70357|E||||PID-3 missing\\F\\bad', 'ERR segment for v2.5+');
  const parsed = parseAck(ae);
  t.same([parsed.code, parsed.text, parsed.errorCodes], ['AE', 'PID-3 missing|bad', ['101']]);
  const ar = parseAck(buildAck(ADT_A01, { code: 'AR', text: 'unsupported' }));
  t.same([ar.code, ar.errorCodes], ['AR', ['207']], 'default error code 207');
  t.match(ar.msh.controlId, /^WG[0-9a-f]{16}$/, 'fresh control ID by default');
  t.not(parseAck(buildAck(ADT_A01)).msh.controlId, ar.msh.controlId, 'control IDs differ');
});

t.test('ACK for older versions', async (t) => {
  const ack231 = buildAck(ORM_V231, { code: 'AE', text: 'no', dateTime: when, controlId: 'Z' });
  t.equal(splitSegments(ack231)[0], 'MSH|^~\\&|RIS|RAD|PACS|RAD|20240501123005+0000||ACK^O01^ACK|Z|T|2.3.1', 'structure component from 2.3.1');
  t.same(splitSegments(ack231).slice(1), ['MSA|AE|42|no', 'ERR|^^^207&Application internal error&HL70357'], 'v2.3.1-v2.4: MSA-3 and ERR-1 (ELD) with the Table 0357 code');
  t.equal(splitSegments(buildAck(ORU_V23, { code: 'AE', text: 'no' })).length, 2, 'no ERR segment before v2.3.1 (no Table 0357)');
  const ack23 = buildAck(ORU_V23, { controlId: 'Y', dateTime: when });
  t.match(splitSegments(ack23)[0], /\|ACK\^R01\|Y\|P\|2\.3$/, 'no structure component before 2.3.1');
  const odd = buildAck('MSH#$%*@#APP#FAC#ME#HERE###ADT$A04#9#P#2.5', { code: 'AE', text: 'a#b', controlId: 'C', dateTime: when });
  t.equal(odd, 'MSH#$%*@#ME#HERE#APP#FAC#20240501123005+0000##ACK$A04$ACK#C#P#2.5\rMSA#AE#9#a*F*b\rERR###207$Application internal error$HL70357#E####a*F*b\r', 'the original delimiters are kept');
  t.same(parseAck(odd).text, 'a#b');
});

t.test('hostile ACKs', async (t) => {
  const msh = 'MSH|^~\\&|A|B|C|D|20240101||ACK^A01^ACK|1|P|2.5\r';
  const cases: Array<[string, string]> = [
    ['no MSH', 'MSA|AA|1\r'],
    ['no MSA', msh],
    ['MSA without code', `${msh}MSA||1\r`],
    ['unknown code', `${msh}MSA|OK|1\r`],
    ['MSA without control ID', `${msh}MSA|AA\r`],
    ['MSAX is not MSA', `${msh}MSAX|AA|1\r`],
  ];
  for (const [label, message] of cases) expectCode(t, () => parseAck(message), 'HL7_MESSAGE_INVALID', label);
  expectCode(t, () => buildAck(ADT_A01, { code: 'XX' as never }), 'HL7_MESSAGE_INVALID', 'unknown ACK code');
  expectCode(t, () => buildAck('PID|1'), 'HL7_MESSAGE_INVALID', 'ACK for a message without MSH');
});
