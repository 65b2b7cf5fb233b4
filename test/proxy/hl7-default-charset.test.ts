/**
 * A route's hl7.defaultCharset: the character set its receiver reads when MSH-18 is empty. HL7 v2.5
 * §2.14.9.18 says ASCII then, but many receivers are fixed to another set (a Japanese lab system
 * reading Shift_JIS, a receiver reading UTF-8 always) and senders do not declare it. The allow rules
 * must judge the MSH as that receiver reads it, with the same ambiguity refusal as a declared MSH-18.
 * python3-hl7 (`hl7.parse`, `mllp_send`) shows the receiver's reading and sends.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { MllpDecoder, encodeFrame } from '../../src/protocols/hl7/index.ts';
import { type AllowRule, validateGatewayConfig } from '../../src/proxy/route-config.ts';
import { tempDir } from '../helpers/tmp.ts';
import { withTimeout } from '../protocols/fixtures/helpers.ts';
import { hl7Receiver } from './fixtures/hl7-receiver.ts';
import { freeLoopbackPort, peerOption, requireBinary, run, startGateway } from './fixtures/peers.ts';
import { proxyPki } from './fixtures/pki.ts';

const OUT = '127.30.113.1';
const IN = '127.30.113.2';
// python3-hl7 is a Debian package: the system interpreter has it, a python3 earlier on PATH may not.
const PYTHON = '/usr/bin/python3';
const latin1 = (s: string) => Buffer.from(s, 'latin1');

/** How python3-hl7 reads `bytes` decoded as `encoding`: the value of each MSH field asked. */
function pythonReadsMsh(bytes: Buffer, encoding: string, fields: number[]): string[] {
  const script = `import json, sys, hl7\nm = hl7.parse(sys.stdin.buffer.read(), encoding=${JSON.stringify(encoding)})\nprint(json.dumps([str(m.segment("MSH")[n]) for n in ${JSON.stringify(fields)}]))`;
  const r = spawnSync(PYTHON, ['-c', script], { input: bytes, encoding: 'utf8' });
  if (r.status !== 0) return [`error: ${r.stderr.trim().split('\n').pop()}`];
  return JSON.parse(r.stdout) as string[];
}

/** Sender -> outbound route (allow rules, hl7 settings) -> mTLS -> inbound route -> receiver. */
async function chain(t: Test, allow: AllowRule[], hl7?: { defaultCharset: string }) {
  const pki = await proxyPki(t);
  const inCert = await pki.issue('gw-in', [IN]);
  const outCert = await pki.issue('gw-out', ['ris-gw.klinikum.internal']);
  const receiver = await hl7Receiver(t);
  const inPort = await freeLoopbackPort();
  const outPort = await freeLoopbackPort();
  await startGateway(t, {
    routes: [
      { name: 'ris-out', direction: 'outbound', protocol: 'hl7', listen: `${OUT}:${outPort}`, upstream: `${IN}:${inPort}`, tls: { cert: [outCert.cert], key: [outCert.key], ca: pki.trust }, allow, ...(hl7 ? { hl7 } : {}) },
      { name: 'lis-in', direction: 'inbound', protocol: 'hl7', listen: `${IN}:${inPort}`, upstream: `127.0.0.1:${receiver.port}`, tls: { cert: [inCert.cert], key: [inCert.key], ca: pki.trust } },
    ],
  });
  /** Send one frame on a fresh connection; the gateway's or receiver's answer. */
  const send = async (frame: Buffer): Promise<string> => {
    const socket = net.connect({ host: OUT, port: outPort });
    socket.on('error', () => undefined);
    t.teardown(() => socket.destroy());
    const decoder = new MllpDecoder();
    const answer = new Promise<string>((resolve, reject) => {
      socket.on('data', (chunk: Buffer) => { const [f] = decoder.push(chunk); if (f) resolve(f.toString('latin1')); });
      socket.once('close', () => reject(new Error('closed without an answer')));
    });
    socket.write(frame);
    return withTimeout(answer, 15_000, 'the answer');
  };
  return { receiver, outPort, send };
}

t.test('hl7.defaultCharset in the gateway config: validated, errors name the field', async (t) => {
  const config = (route: Record<string, unknown>) => ({
    routes: [{ name: 'r', direction: 'outbound', protocol: 'hl7', listen: '127.30.113.9:2575', upstream: '127.0.0.1:2576', tls: { cert: ['c.pem'], key: ['k.pem'], ca: 'ca.pem' }, ...route }],
  });
  for (const ok of ['UNICODE UTF-8', '8859/1', 'ISO IR87', 'shift_jis', 'GB 18030']) {
    t.equal(validateGatewayConfig(config({ hl7: { defaultCharset: ok } }), 'gw.json').routes[0].hl7?.defaultCharset, ok, `accepted: ${ok}`);
  }
  const refused: Array<[string, Record<string, unknown>, RegExp]> = [
    ['unknown set', { hl7: { defaultCharset: 'KLINGON' } }, /field "routes\.0\.hl7\.defaultCharset" \(route "r"\): "KLINGON" is neither an HL7 Table 0211 value/],
    ['UTF-16 (not byte-oriented)', { hl7: { defaultCharset: 'UNICODE' } }, /field "routes\.0\.hl7\.defaultCharset" \(route "r"\): "UNICODE" \(utf-16le\) is not a byte-oriented/],
    ['empty', { hl7: { defaultCharset: '' } }, /field "routes\.0\.hl7\.defaultCharset"/],
    ['not a string', { hl7: { defaultCharset: 8 } }, /field "routes\.0\.hl7\.defaultCharset" must be string/],
    ['unknown hl7 option', { hl7: { charset: 'UNICODE UTF-8' } }, /field "routes\.0\.hl7\.charset" is not a known field/],
    ['on a DICOM route', { protocol: 'dicom', hl7: { defaultCharset: 'UNICODE UTF-8' } }, /field "routes\.0\.hl7" \(route "r"\) applies to HL7 routes only/],
  ];
  for (const [label, route, message] of refused) {
    t.throws(() => validateGatewayConfig(config(route), 'gw.json'), { code: 'CONFIG_INVALID', message }, `refused: ${label}`);
  }
});

t.test('receiver fixed to Shift_JIS, no MSH-18: a delimiter byte inside a character cannot move the fields the rules judge', peerOption('mllp_send'), async (t) => {
  // Without the option the gateway read an undeclared message as bytes: the Shift_JIS character
  // 0x81 0x7C in MSH-5 holds a `|` byte, so the gateway's MSH-9 (ADT^A01, allowed) was the
  // receiver's MSH-8, and the receiver's MSH-9 (ORU^R01) was never judged.
  const { receiver, send } = await chain(t, [{ sendingApplications: ['RIS'], messageTypes: ['ADT^A01'] }], { defaultCharset: 'shift_jis' });
  const message = Buffer.concat([latin1('MSH|^~\\&|RIS|RAD|LIS'), Buffer.from([0x81, 0x7c]), latin1('|LAB|20261126031500|ADT^A01|ORU^R01|SJ1|P|2.5\rPID|1||42\r')]);
  t.same(pythonReadsMsh(message, 'shift_jis', [9, 10]), ['ORU^R01', 'SJ1'], 'the Shift_JIS receiver reads MSH-9 ORU^R01');
  t.same(pythonReadsMsh(message, 'latin1', [9]), ['ADT^A01'], 'as bytes MSH-9 is ADT^A01');
  t.match(await send(encodeFrame(message)), /\rMSA\|AR\|ORU\^R01\|/, 'refused with NAK AR as ambiguous');

  // Real Shift_JIS text without delimiter bytes inside characters is relayed byte for byte.
  const kanji = Buffer.concat([latin1('MSH|^~\\&|RIS|'), Buffer.from([0x8c, 0x9f, 0x8d, 0xb8]), latin1('|LIS|LAB|20261126031500||ADT^A01|SJ2|P|2.5\rPID|1||42\r')]);
  t.same(pythonReadsMsh(kanji, 'shift_jis', [4, 9]), ['検査', 'ADT^A01'], 'python3-hl7 reads the Shift_JIS facility');
  t.match(await send(encodeFrame(kanji)), /MSA\|AA\|SJ2/, 'unambiguous Shift_JIS message relayed and acknowledged');
  t.equal(receiver.messages.length, 1, 'only the unambiguous message reached the receiver');
  t.equal(receiver.messages[0], kanji.toString('latin1'), 'bytes unchanged');
});

t.test('receiver reading UTF-8 always, no MSH-18: a rule naming a non-ASCII facility matches as the receiver reads it', peerOption('mllp_send'), async (t) => {
  // Without the option the facility "KLINIKUM SÜD" sent in UTF-8 without MSH-18 was judged as its
  // latin1 bytes ("KLINIKUM SÃ\x9cD"): no rule naming it ever matched and every message was refused.
  const { receiver, outPort } = await chain(t, [{ sendingFacilities: ['KLINIKUM SÜD'], messageTypes: ['ADT^A01'] }], { defaultCharset: 'UNICODE UTF-8' });
  const work = tempDir(t);
  const sendWithMllpSend = async (id: string, facility: string): Promise<string> => {
    const file = join(work, `${id}.hl7`);
    writeFileSync(file, encodeFrame(Buffer.from(`MSH|^~\\&|RIS|${facility}|LIS|LAB|20261126031500||ADT^A01|${id}|P|2.5\rPID|1||42||Müller^Jürgen\r`, 'utf8')));
    const sent = await run(requireBinary('mllp_send'), ['-p', String(outPort), '-f', file, OUT]);
    t.equal(sent.code, 0, `${id}: mllp_send got an answer`);
    return sent.output;
  };
  t.same(pythonReadsMsh(Buffer.from('MSH|^~\\&|RIS|KLINIKUM SÜD|LIS|LAB|1||ADT^A01|X|P|2.5\r', 'utf8'), 'utf8', [4]), ['KLINIKUM SÜD'], 'a UTF-8 receiver reads the facility');
  t.match(await sendWithMllpSend('U1', 'KLINIKUM SÜD'), /MSA\|AA\|U1/, 'admitted by the rule naming the facility');
  t.match(await sendWithMllpSend('U2', 'KLINIKUM NORD'), /MSA\|AR\|U2/, 'another facility is still refused');
  t.equal(receiver.messages.length, 1, 'one message relayed');
});
