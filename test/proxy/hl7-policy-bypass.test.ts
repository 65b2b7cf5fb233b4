/**
 * HL7 policy bypasses found in review: what the allow rules checked must be all that reaches the
 * receiver. Each frame is sent over mTLS to an inbound route; the assertions read what the plaintext
 * receiver behind it got, and (when python3-hl7 is installed) how that real parser reads the payload.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import t from 'tap';
import { encodeFrame } from '../../src/protocols/hl7/index.ts';
import { hl7RouteClient } from './fixtures/hl7-route-client.ts';

const GW = '127.30.12.1';
const PYTHON = '/usr/bin/python3';

const msh = (app: string, type: string, id: string) => `MSH|^~\\&|${app}|RAD|LIS|LAB|20261126031500||${type}|${id}|P|2.5`;

/** python3-hl7's parse_hl7 (batch-aware): the MSH-3 of every message it finds in the payload; undefined without the module. */
function pythonHl7Apps(payload: string): string[] | undefined {
  if (!existsSync(PYTHON)) return undefined;
  const script = 'import sys, hl7\nm = sys.stdin.buffer.read().decode("utf-8", "replace")\np = hl7.parse_batch(m)\nprint("\\n".join(str(x.segment("MSH")[3]) for x in p))';
  const r = spawnSync(PYTHON, ['-c', script], { input: Buffer.from(payload, 'latin1'), encoding: 'utf8' });
  if (r.status !== 0) return /No module named/.test(r.stderr) ? undefined : [`error: ${r.stderr.trim().split('\n').pop()}`];
  return r.stdout.trim().split('\n');
}


t.test('one MLLP frame holding a second MSH (batch split by the receiver) is refused, not forwarded', async (t) => {
  // Found in review: the HL7 relay decided a frame by its first MSH only and forwarded the whole frame,
  // so a second message appended after the first one's segments (after CR, LF, or any line break a
  // receiver's line splitter knows: FF, GS, RS, NEL, U+2028) reached the receiver unchecked; python-hl7's
  // parse_hl7/parse_batch and batch-aware engines handle it as a second message with its own MSH-3/MSH-9
  // (here: application EVIL, ORU^R01, which no rule allows).
  const { socket, reply, receiver } = await hl7RouteClient(t, GW, 'lis-in', [{ peerSans: ['ris-gw.klinikum.internal'], sendingApplications: ['RIS'], messageTypes: ['ADT^A01'] }]);

  const breaks: Array<[string, string]> = [['CR', '\r'], ['LF', '\n'], ['CR LF and spaces', '\r\n  '], ['FF', '\x0c'], ['RS', '\x1e'], ['GS', '\x1d'], ['NEL (UTF-8)', '\xc2\x85'], ['U+2028 (UTF-8)', '\xe2\x80\xa8']];
  let n = 0;
  for (const [name, sep] of breaks) {
    const id = `SMUG${++n}`;
    const payload = `${msh('RIS', 'ADT^A01', id)}\rPID|1||42${sep}${msh('EVIL', 'ORU^R01', `${id}B`)}\rOBX|1|ST|X||smuggled\r`;
    const seen = pythonHl7Apps(payload);
    if (seen) t.same(seen, ['RIS', 'EVIL'], `${name}: python-hl7 reads two messages, the second from EVIL`);
    else if (process.env.CI) t.fail(`${name}: python3-hl7 (a real receiver's parser) must be installed in CI`);
    socket.write(encodeFrame(payload));
    t.match(await reply(id), new RegExp(`MSA\\|AR\\|${id}`), `${name}: NAK AR for the frame`);
  }
  // A batch header segment (HL7 v2.5 §2.10.3) inside an MLLP frame is refused the same way.
  socket.write(encodeFrame(`${msh('RIS', 'ADT^A01', 'SMUGB')}\rPID|1||42\rBHS|^~\\&|EVIL\r${msh('EVIL', 'ORU^R01', 'SMUGBB')}\rBTS|1\r`));
  t.match(await reply('SMUGB'), /MSA\|AR\|SMUGB/, 'BHS inside the frame: NAK AR');

  // A single message is still relayed, so the refusals above were not a broken connection.
  const good = `${msh('RIS', 'ADT^A01', 'GOOD1')}\rPID|1||42\rNTE|1||text mentioning MSH|and BHS\r`;
  socket.write(encodeFrame(good));
  t.match(await reply('GOOD1'), /MSA\|AA\|GOOD1/, 'a single message is acknowledged by the receiver');
  t.same(receiver.messages, [good], 'only the single message reached the receiver');
});

t.test('a rule naming the whole HD (namespace^OID^ISO) admits that sender only; a bare name admits any OID', async (t) => {
  // Found in review: rules compared MSH-3/MSH-4's first component only, so a receiver that keys its
  // interfaces on the universal ID (an OID) could not be protected: "LIS^<any OID>^ISO" passed a rule
  // meant for one sending application.
  const { socket, reply, receiver } = await hl7RouteClient(t, GW, 'lis-hd', [{ sendingApplications: ['RIS^1.2.276.0.76.3.1.1^ISO'], sendingFacilities: ['RAD'], messageTypes: ['ADT^A01'] }]);
  const send = (app: string, id: string) => {
    socket.write(encodeFrame(`${msh(app, 'ADT^A01', id)}\rPID|1||42\r`));
    return reply(id);
  };
  t.match(await send('RIS^1.2.276.0.76.3.1.1^ISO', 'HD1'), /MSA\|AA\|HD1/, 'the named HD is relayed');
  t.match(await send('RIS^1.2.276.0.76.3.1.1^ISO^', 'HD2'), /MSA\|AA\|HD2/, 'trailing empty components do not matter');
  t.match(await send('RIS^1.2.276.0.76.3.1.2^ISO', 'HD3'), /MSA\|AR\|HD3/, 'same namespace, another OID: refused');
  t.match(await send('RIS', 'HD4'), /MSA\|AR\|HD4/, 'the namespace alone: refused');
  t.same(receiver.messages.map((m) => /\|(HD\d)\|/.exec(m)?.[1]), ['HD1', 'HD2'], 'the receiver saw only the admitted senders');
});
