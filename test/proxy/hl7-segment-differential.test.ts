/**
 * Parser differential on segment terminators: the gateway ends segments at CR or LF, a receiver that
 * follows HL7 v2.5 §2.5 ends them at CR only. The MSH-18 (Character Set) such a receiver finds past
 * an LF must be judged too, since it decodes the whole message by it before splitting fields.
 * python3-hl7's `parse` (CR-only) shows how that receiver reads the payload.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import t from 'tap';
import { encodeFrame } from '../../src/protocols/hl7/index.ts';
import { hl7RouteClient } from './fixtures/hl7-route-client.ts';

const GW = '127.51.0.1';
// python3-hl7 is a Debian package: the system interpreter has it, a python3 earlier on PATH may not.
const PYTHON = '/usr/bin/python3';

/**
 * A CR-only receiver honouring MSH-18, built on python3-hl7: MSH-18 read from the bytes, then the
 * message decoded by it (HL7 Table 0211 BIG-5 is Python's big5) and MSH-9 read; undefined without the module.
 */
function crOnlyReceiverReads(payload: Buffer): { charset: string; type: string } | undefined {
  if (!existsSync(PYTHON)) return undefined;
  const script = [
    'import json, sys, hl7',
    'raw = sys.stdin.buffer.read()',
    'cs = str(hl7.parse(raw, encoding="latin1").segment("MSH")[18])',
    'm = hl7.parse(raw, encoding={"BIG-5": "big5"}.get(cs, cs or "ascii"))',
    'print(json.dumps({"charset": cs, "type": str(m.segment("MSH")[9])}))',
  ].join('\n');
  const r = spawnSync(PYTHON, ['-c', script], { input: payload, encoding: 'utf8' });
  if (r.status !== 0) return /No module named/.test(r.stderr) ? undefined : { charset: 'error', type: r.stderr.trim().split('\n').pop() ?? '' };
  return JSON.parse(r.stdout) as { charset: string; type: string };
}

t.test('MSH-18 past an LF in the MSH: the character set a CR-only receiver decodes by is judged too', async (t) => {
  // Found in review: the gateway's MSH ended at the LF, so it saw no MSH-18 and judged the bytes
  // (MSH-9 ADT^A01, allowed). A CR-only receiver's MSH runs on to MSH-18 BIG-5; decoded so, 0xA4 0x7C
  // in MSH-6 is one character, the fields shift by one, and its MSH-9 is the gateway's MSH-10 ORU^R01.
  const { socket, reply, receiver } = await hl7RouteClient(t, GW, 'lis-in', [{ sendingApplications: ['RIS'], messageTypes: ['ADT^A01'] }]);
  const send = (payload: Buffer, id: string) => {
    socket.write(encodeFrame(payload));
    return reply(id);
  };

  const smuggled = Buffer.from('MSH|^~\\&|RIS|RAD|LIS|LAB\xa4|20261126031500||ADT^A01|ORU^R01|P|2.5\n||||||BIG-5\rPID|1||42\r', 'latin1');
  const seen = crOnlyReceiverReads(smuggled);
  if (seen) t.same(seen, { charset: 'BIG-5', type: 'ORU^R01' }, 'the CR-only receiver finds MSH-18 BIG-5 and reads MSH-9 ORU^R01');
  else if (process.env.CI) t.fail('python3-hl7 (a real receiver\'s parser) must be installed in CI');
  t.match(await send(smuggled, 'ORU^R01'), /\rMSA\|AR\|ORU\^R01\|/, 'refused with NAK AR as ambiguous');

  // LF-terminated segments without such a declaration are still relayed, byte for byte.
  const lf = Buffer.from('MSH|^~\\&|RIS|RAD|LIS|LAB|20261126031500||ADT^A01|LF1|P|2.5\nPID|1||42\n', 'latin1');
  t.match(await send(lf, 'LF1'), /MSA\|AA\|LF1/, 'an LF-terminated message is acknowledged by the receiver');
  t.same(receiver.messages, [lf.toString('latin1')], 'only that message reached the receiver');
});
