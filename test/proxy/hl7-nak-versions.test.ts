/**
 * Where the gateway's NAK puts its reason, per HL7 version (MSH-12): MSA-3 (Text Message) up to v2.6
 * (deprecated from v2.4, withdrawn in v2.7), ERR-3/ERR-4/ERR-8 from v2.5, ERR-1 (ELD) with the
 * Table 0357 code in v2.3.1-v2.4. The real sender python3-hl7 `mllp_send` gets the NAK and `hl7.parse`
 * reads it. Sender (plain) -> outbound route (allow rules) -> mTLS -> inbound route -> receiver.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { encodeFrame, parseAck } from '../../src/protocols/hl7/index.ts';
import { tempDir } from '../helpers/tmp.ts';
import { hl7Receiver } from './fixtures/hl7-receiver.ts';
import { freeLoopbackPort, peerOption, requireBinary, run, startGateway } from './fixtures/peers.ts';
import { proxyPki } from './fixtures/pki.ts';

const OUT = '127.30.112.1';
const IN = '127.30.112.2';
// python3-hl7 is a Debian package: the system interpreter has it, a python3 earlier on PATH may not.
const PYTHON = '/usr/bin/python3';

/** python3-hl7's reading of `nak`: each `SEG.n` asked ('' when the field is empty or absent). */
function pythonReads(nak: Buffer, fields: string[]): string[] {
  const script = [
    'import json, sys, hl7',
    'm = hl7.parse(sys.stdin.buffer.read(), encoding="latin1")',
    'def get(name, n):',
    '    found = [s for s in m if str(s[0]) == name]',
    '    return str(found[0][n]) if found and len(found[0]) > n else ""',
    `print(json.dumps([get(f.split(".")[0], int(f.split(".")[1])) for f in ${JSON.stringify(fields)}]))`,
  ].join('\n');
  const r = spawnSync(PYTHON, ['-c', script], { input: nak, encoding: 'utf8' });
  if (r.status !== 0) return [`error: ${r.stderr.trim().split('\n').pop()}`];
  return JSON.parse(r.stdout) as string[];
}

t.test('a refused message gets its NAK reason where its HL7 version puts it, and python3-hl7 reads it', peerOption('mllp_send'), async (t) => {
  const pki = await proxyPki(t);
  const work = tempDir(t);
  const inCert = await pki.issue('gw-in', [IN]);
  const outCert = await pki.issue('gw-out', ['ris-gw.klinikum.internal']);
  const receiver = await hl7Receiver(t);
  const inPort = await freeLoopbackPort();
  const outPort = await freeLoopbackPort();
  await startGateway(t, {
    routes: [
      { name: 'ris-out', direction: 'outbound', protocol: 'hl7', listen: `${OUT}:${outPort}`, upstream: `${IN}:${inPort}`, tls: { cert: [outCert.cert], key: [outCert.key], ca: pki.trust }, allow: [{ messageTypes: ['ADT^A01'] }] },
      { name: 'lis-in', direction: 'inbound', protocol: 'hl7', listen: `${IN}:${inPort}`, upstream: `127.0.0.1:${receiver.port}`, tls: { cert: [inCert.cert], key: [inCert.key], ca: pki.trust } },
    ],
  });
  const reason = 'message refused by gateway policy';
  const err3 = '200^Unsupported message type^HL70357';
  // version, MSA-3, ERR-1, ERR-3, ERR-4, ERR-8 as python3-hl7 reads them
  const cases: Array<[string, string, string, string, string, string]> = [
    ['2.3', reason, '', '', '', ''],
    ['2.3.1', reason, '^^^200&Unsupported message type&HL70357', '', '', ''],
    ['2.4', reason, '^^^200&Unsupported message type&HL70357', '', '', ''],
    ['2.5.1', reason, '', err3, 'E', reason],
    ['2.6', reason, '', err3, 'E', reason],
    ['2.7', '', '', err3, 'E', reason],
    ['2.7.1', '', '', err3, 'E', reason],
    ['2.8', '', '', err3, 'E', reason],
  ];
  for (const [version, msa3, err1, err3Read, err4, err8] of cases) {
    const id = `V${version.replace(/\./g, '')}`;
    const file = join(work, `${id}.hl7`);
    writeFileSync(file, encodeFrame(`MSH|^~\\&|RIS|RAD|LIS|LAB|20261126031500||ORU^R01|${id}|P|${version}\rOBX|1|ST|X||1\r`));
    const sent = await run(requireBinary('mllp_send'), ['-p', String(outPort), '-f', file, OUT]);
    t.equal(sent.code, 0, `v${version}: mllp_send got an answer (${sent.output.slice(0, 200)})`);
    const nak = Buffer.from(/\x0b([^\x1c]*)\x1c\r/.exec(sent.output)?.[1] ?? '', 'latin1');
    t.same(pythonReads(nak, ['MSA.1', 'MSA.2', 'MSA.3', 'ERR.1', 'ERR.3', 'ERR.4', 'ERR.8']), ['AR', id, msa3, err1, err3Read, err4, err8],
      `v${version}: MSA-3 ${msa3 ? 'holds the reason' : 'empty (withdrawn in v2.7)'}, ERR ${err3Read ? '3/4/8' : err1 ? '1 (ELD)' : 'absent'}`);
    const parsed = parseAck(nak);
    t.same([parsed.text, parsed.errorCodes], [reason, version === '2.3' ? [] : ['200']], `v${version}: parseAck finds the reason and the Table 0357 code`);
  }
  t.equal(receiver.messages.length, 0, 'no refused message reached the receiver');
});
