/**
 * The HL7 gateway against what real senders and receivers do: odd delimiters, several character
 * sets, enhanced-mode acknowledgments (MSH-15/16) and loose MLLP framing. Messages go sender (plain)
 * -> outbound route (allow rules) -> mTLS -> inbound route -> plaintext receiver; the real peer
 * python3-hl7 (`mllp_send`, `hl7.parse`) sends and reads where it applies, raw sockets otherwise.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { AllowRule } from '../../src/proxy/route-config.ts';
import { MllpDecoder, buildAck, encodeFrame, parseMsh } from '../../src/protocols/hl7/index.ts';
import { tempDir } from '../helpers/tmp.ts';
import { withTimeout } from '../protocols/fixtures/helpers.ts';
import { freeLoopbackPort, requireBinary, run, startGateway } from './fixtures/peers.ts';
import { proxyPki } from './fixtures/pki.ts';

const OUT = '127.30.21.1';
const IN = '127.30.21.2';
const PYTHON = '/usr/bin/python3';

/**
 * A receiver that follows HL7 v2.5 §2.9: original mode gets AA, enhanced mode CA unless MSH-15 is NE
 * (then nothing). It keeps every payload as bytes.
 */
async function honestReceiver(t: Test): Promise<{ port: number; messages: Buffer[] }> {
  const messages: Buffer[] = [];
  const server = net.createServer((socket) => {
    const decoder = new MllpDecoder();
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      for (const payload of decoder.push(chunk)) {
        messages.push(payload);
        const msh = parseMsh(payload);
        const enhanced = (msh.fields[15] ?? '') !== '' || (msh.fields[16] ?? '') !== '';
        if (!enhanced) socket.write(encodeFrame(buildAck(msh, { code: 'AA' })));
        else if (msh.fields[15] !== 'NE') socket.write(encodeFrame(buildAck(msh, { code: 'CA' })));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.address() as net.AddressInfo).port, messages };
}

/** The chain, with `allow` (if any) on the outbound route; `send` opens a plaintext connection to it. */
async function chain(t: Test, allow?: AllowRule[]) {
  const pki = await proxyPki(t);
  const inCert = await pki.issue('gw-in', [IN]);
  const outCert = await pki.issue('gw-out', ['ris-gw.klinikum.internal']);
  const receiver = await honestReceiver(t);
  const inPort = await freeLoopbackPort();
  const outPort = await freeLoopbackPort();
  await startGateway(t, {
    routes: [
      { name: 'ris-out', direction: 'outbound', protocol: 'hl7', listen: `${OUT}:${outPort}`, upstream: `${IN}:${inPort}`, tls: { cert: [outCert.cert], key: [outCert.key], ca: pki.trust }, ...(allow ? { allow } : {}) },
      { name: 'lis-in', direction: 'inbound', protocol: 'hl7', listen: `${IN}:${inPort}`, upstream: `127.0.0.1:${receiver.port}`, tls: { cert: [inCert.cert], key: [inCert.key], ca: pki.trust } },
    ],
  });
  const connect = async () => {
    const socket = net.connect({ host: OUT, port: outPort });
    socket.setNoDelay(true);
    socket.on('error', () => undefined);
    t.teardown(() => socket.destroy());
    await new Promise((r) => socket.once('connect', r));
    const decoder = new MllpDecoder();
    const replies: Buffer[] = [];
    const waiters: Array<() => void> = [];
    let closed = false;
    socket.on('data', (chunk: Buffer) => { replies.push(...decoder.push(chunk)); waiters.splice(0).forEach((w) => w()); });
    socket.on('close', () => { closed = true; waiters.splice(0).forEach((w) => w()); });
    /** The reply whose MSA-2 is `id`, read with the delimiters of its own MSH. */
    const find = (id: string) => replies.find((r) => {
      const { field } = parseMsh(r).encoding;
      return r.toString('latin1').split(/\r/).some((s) => s.startsWith(`MSA${field}`) && s.split(field)[2] === id);
    });
    const reply = (id: string) => withTimeout(new Promise<Buffer>((resolve, reject) => {
      const check = () => {
        const found = find(id);
        if (found) resolve(found);
        else if (closed) reject(new Error(`connection closed before the reply to ${id}`));
        else waiters.push(check);
      };
      check();
    }), 15_000, `reply to ${id}`);
    return { socket, reply, find, closed: () => closed };
  };
  return { connect, receiver, outPort };
}

/** How python3-hl7 reads `bytes` decoded as `encoding`: the value of each `SEG.n` asked, or its error. */
function pythonReads(bytes: Buffer, encoding: string, fields: string[]): string[] {
  const values = fields.map((f) => { const [segment, n] = f.split('.'); return `str(m.segment(${JSON.stringify(segment)})[${n}])`; });
  const script = `import sys, hl7\nm = hl7.parse(sys.stdin.buffer.read(), encoding=${JSON.stringify(encoding)})\nprint("\\n".join([${values.join(', ')}]))`;
  const r = spawnSync(PYTHON, ['-c', script], { input: bytes, encoding: 'utf8' });
  if (r.status !== 0) return [`error: ${r.stderr.trim().split('\n').pop()}`];
  return r.stdout.replace(/\n$/, '').split('\n');
}

const latin1 = (s: string) => Buffer.from(s, 'latin1');

t.test('MSH-18 multi-byte sets: a delimiter byte inside a character cannot move the fields the rules judge', async (t) => {
  // Found in review: the gateway split MSH by its bytes while a receiver decodes by MSH-18 first. In
  // BIG-5, GB 18030 and Shift_JIS a second byte may be 0x7C `|`, and in ISO 2022 (ISO IR87) every
  // byte between ESC $ B and ESC ( B is half a character: the gateway saw one field more than the
  // receiver, so its MSH-9 was the receiver's MSH-8. Allowed ADT^A01 in MSH-8, refused ORU^R01 in MSH-9.
  const { connect, receiver } = await chain(t, [{ sendingApplications: ['RIS'], messageTypes: ['ADT^A01'] }]);
  const cases: Array<[string, string, Buffer]> = [
    ['BIG-5', 'big5', Buffer.from([0xa4, 0x7c])],
    ['GB 18030', 'gb18030', Buffer.from([0x81, 0x7c])],
    ['SHIFT_JIS', 'shift_jis', Buffer.from([0x81, 0x7c])],
    ['ISO IR87', 'iso2022_jp', latin1('\x1b$B0|\x1b(B')],
  ];
  for (const [charset, pythonCodec, char] of cases) {
    const id = `MB${charset.replace(/\W/g, '')}`;
    const message = Buffer.concat([latin1('MSH|^~\\&|RIS|RAD|LIS'), char, latin1(`|LAB|20261126031500|ADT^A01|ORU^R01|${id}|P|2.5|||||${charset}|${charset}\rPID|1||42\r`)]);
    // The receiver's reading (python3-hl7 decoding as declared) against the byte reading.
    t.same(pythonReads(message, pythonCodec, ['MSH.9', 'MSH.10']), ['ORU^R01', id], `${charset}: decoded, MSH-9 is ORU^R01`);
    t.same(pythonReads(message, 'latin1', ['MSH.9']), ['ADT^A01'], `${charset}: as bytes, MSH-9 is ADT^A01`);
    const frame = encodeFrame(message);
    // The NAK goes to MSA-2 as the gateway reads MSH-10: the bytes give ORU^R01 there.
    const { socket } = await connect();
    const dec = new MllpDecoder();
    const got: Buffer[] = [];
    socket.on('data', (c: Buffer) => got.push(...dec.push(c)));
    socket.write(frame);
    await withTimeout(new Promise<void>((resolve) => { const tick = () => (got.length ? resolve() : setTimeout(tick, 20)); tick(); }), 15_000, `${charset}: NAK`);
    t.match(got[0].toString('latin1'), /\rMSA\|AR\|ORU\^R01\|/, `${charset}: refused with NAK AR`);
  }
  t.equal(receiver.messages.length, 0, 'no ambiguous message reached the receiver');

  // Real CJK text without delimiter bytes inside characters is relayed byte for byte.
  const big5 = Buffer.concat([latin1('MSH|^~\\&|RIS|'), Buffer.from([0xa4, 0xa4, 0xa4, 0xe5]), latin1('|LIS|LAB|20261126031500||ADT^A01|MBOK|P|2.5||||||BIG-5\rPID|1||42||'), Buffer.from([0xb3, 0xaf, 0xa4, 0x6a]), latin1('\r')]);
  t.same(pythonReads(big5, 'big5', ['MSH.4', 'MSH.9']), ['中文', 'ADT^A01'], 'python3-hl7 reads the BIG-5 facility');
  const conn = await connect();
  conn.socket.write(encodeFrame(big5));
  t.match((await conn.reply('MBOK')).toString('latin1'), /MSA\|AA\|MBOK/, 'BIG-5 message without ambiguity: relayed and acknowledged');
  t.ok(receiver.messages[0]?.equals(big5), 'the receiver got the BIG-5 bytes unchanged');
});

t.test('ISO 2022: a routing field that reads differently decoded and as bytes is refused, not judged by one reading', async (t) => {
  // Found in review of the decoding fix: ESC ( B (switch to ASCII) vanishes when decoded, so the
  // facility bytes `L ESC ( B AB` read LAB to a receiver that honours MSH-18 and something else to
  // one that does not. Judged by the decoded reading alone, a rule for LAB admitted both.
  const { connect, receiver } = await chain(t, [{ sendingFacilities: ['LAB'], messageTypes: ['ADT^A01'] }]);
  const message = latin1('MSH|^~\\&|RIS|L\x1b(BAB|LIS|LAB|20261126031500||ADT^A01|E1|P|2.5||||||ISO IR87\rPID|1||42\r');
  t.same(pythonReads(message, 'iso2022_jp', ['MSH.4']), ['LAB'], 'decoded as declared, the facility is LAB');
  t.same(pythonReads(message, 'latin1', ['MSH.4']), ['L\x1b(BAB'], 'as bytes it is not');
  const conn = await connect();
  conn.socket.write(encodeFrame(message));
  t.match((await conn.reply('E1')).toString('latin1'), /MSA\|AR\|E1/, 'refused with NAK AR');
  const plain = latin1('MSH|^~\\&|RIS|LAB|LIS|LAB|20261126031500||ADT^A01|E2|P|2.5||||||ISO IR87\rPID|1||42\r');
  conn.socket.write(encodeFrame(plain));
  t.match((await conn.reply('E2')).toString('latin1'), /MSA\|AA\|E2/, 'the same message with plain LAB is relayed');
  t.equal(receiver.messages.length, 1, 'only the unambiguous message reached the receiver');
});

t.test('non-ASCII routing names are judged as the receiver decodes them (MSH-18 UNICODE UTF-8, 8859/1)', async (t) => {
  // Found in review: rules were compared with the latin1 reading of the bytes, so a rule naming the
  // facility "KLINIKUM SÜD" never matched its UTF-8 spelling: every message from it was refused.
  const { connect, receiver } = await chain(t, [{ sendingFacilities: ['KLINIKUM SÜD'], messageTypes: ['ADT^A01'] }]);
  const conn = await connect();
  const utf8 = Buffer.from('MSH|^~\\&|RIS|KLINIKUM SÜD|LIS|LAB|20261126031500||ADT^A01|U1|P|2.5||||||UNICODE UTF-8\rPID|1||42||Müller^Jürgen\r', 'utf8');
  conn.socket.write(encodeFrame(utf8));
  t.match((await conn.reply('U1')).toString('latin1'), /MSA\|AA\|U1/, 'UTF-8 facility admitted by its rule');
  const iso = Buffer.from('MSH|^~\\&|RIS|KLINIKUM SÜD|LIS|LAB|20261126031500||ADT^A01|L1|P|2.5||||||8859/1\rPID|1||42||Müller\r', 'latin1');
  conn.socket.write(encodeFrame(iso));
  t.match((await conn.reply('L1')).toString('latin1'), /MSA\|AA\|L1/, '8859/1 facility admitted by its rule');
  const other = Buffer.from('MSH|^~\\&|RIS|KLINIKUM NORD|LIS|LAB|20261126031500||ADT^A01|N1|P|2.5||||||UNICODE UTF-8\r', 'utf8');
  conn.socket.write(encodeFrame(other));
  t.match((await conn.reply('N1')).toString('latin1'), /MSA\|AR\|N1/, 'another facility is still refused');
  t.ok(receiver.messages.length === 2 && receiver.messages[0].equals(utf8) && receiver.messages[1].equals(iso), 'bytes relayed unchanged, whatever the charset');
});

t.test('the NAK uses the sender\'s delimiters and charset, and mllp_send and hl7.parse read it', async (t) => {
  const { outPort } = await chain(t, [{ messageTypes: ['ORU^R01'] }]);
  const work = tempDir(t);
  const cases: Array<[string, string, string, string]> = [
    // label, message, its field and component separators
    ['default delimiters', 'MSH|^~\\&|RIS|RAD|LIS|LAB|20261126031500||ADT^A01^ADT_A01|D1|P|2.5.1', '|', '^'],
    ['v2.7 truncation character', 'MSH|^~\\&#|RIS|RAD|LIS|LAB|20261126031500||ADT^A01^ADT_A01|D2|P|2.7', '|', '^'],
    ['odd delimiters', 'MSH#$%*@#RIS#RAD#LIS#LAB#20261126031500##ADT$A01$ADT_A01#D3#P#2.5.1', '#', '$'],
    ['UTF-8 names and MSH-18', 'MSH|^~\\&|RIS|RAD|LIS|KLINIKUM SÜD|20261126031500||ADT^A01^ADT_A01|D4|P|2.6||||||UNICODE UTF-8', '|', '^'],
  ];
  for (const [label, msh, f, c] of cases) {
    const file = join(work, `${label.replace(/\W/g, '_')}.hl7`);
    writeFileSync(file, encodeFrame(Buffer.from(`${msh}\rPID${f}1${f}${f}42\r`, 'utf8')));
    const sent = await run(requireBinary('mllp_send'), ['-p', String(outPort), '-f', file, OUT]);
    t.equal(sent.code, 0, `${label}: mllp_send read the NAK (${sent.output.slice(0, 120)})`);
    // mllp_send prints each reply as received: the MLLP frame, then a newline.
    const nak = Buffer.from(/\x0b([^\x1c]*)\x1c\r/.exec(sent.output)?.[1] ?? '', 'utf8');
    const id = /D\d/.exec(msh)![0];
    const version = msh.split(f)[11];
    const read = pythonReads(nak, 'utf8', ['MSH.3', 'MSH.4', 'MSH.5', 'MSH.9', 'MSH.12', 'MSA.1', 'MSA.2']);
    const original = msh.split(f);
    t.same(read, [original[4], original[5], original[2], `ACK${c}A01${c}ACK`, version, 'AR', id], `${label}: hl7.parse reads sender/receiver swapped, ACK^A01^ACK, MSH-12, MSA AR and MSH-10`);
    if (version !== '2.3') {
      t.same(pythonReads(nak, 'utf8', ['ERR.3', 'ERR.4']), [`200${c}Unsupported message type${c}HL70357`, 'E'], `${label}: ERR-3 (table 0357) and ERR-4 severity E`);
    }
    if (msh.includes('UNICODE UTF-8')) t.same(pythonReads(nak, 'utf8', ['MSH.18']), ['UNICODE UTF-8'], `${label}: the NAK declares the charset of the names it echoes`);
  }
});

t.test('enhanced mode (MSH-15/16): the refusal is acknowledged as the sender asked, or not at all', async (t) => {
  // Found in review: the gateway answered every refusal with an original-mode AR, also to senders in
  // enhanced mode (HL7 v2.5 §2.9.3) that wait for a commit ACK (CR) or asked for none at all.
  const { connect, receiver } = await chain(t, [{ messageTypes: ['ADT^A01'] }]);
  const conn = await connect();
  const msg = (id: string, accept: string, application: string, type = 'ORU^R01') => latin1(`MSH|^~\\&|RIS|RAD|LIS|LAB|20261126031500||${type}|${id}|P|2.5|||${accept}|${application}\rOBX|1|ST|X||1\r`);
  const expected: Array<[string, string, string, string | undefined]> = [
    ['E0', '', '', 'AR'], ['E1', 'AL', 'AL', 'CR'], ['E2', 'ER', 'NE', 'CR'], ['E3', 'NE', 'AL', 'AR'], ['E4', 'SU', 'ER', 'AR'], ['E5', 'NE', 'NE', undefined], ['E6', 'SU', 'SU', undefined],
  ];
  for (const [id, accept, application, code] of expected) {
    conn.socket.write(encodeFrame(msg(id, accept, application)));
    // A following original-mode message, admitted: its ACK proves every earlier refusal was handled.
    conn.socket.write(encodeFrame(msg(`${id}OK`, '', '', 'ADT^A01')));
    await conn.reply(`${id}OK`);
    const answer = conn.find(id);
    if (code) t.match(answer?.toString('latin1'), new RegExp(`\\rMSA\\|${code}\\|${id}\\|`), `MSH-15 ${accept || '(empty)'} MSH-16 ${application || '(empty)'}: ${code}`);
    else t.equal(answer, undefined, `MSH-15 ${accept} MSH-16 ${application}: no acknowledgment`);
  }
  t.equal(receiver.messages.length, expected.length, 'only the admitted messages reached the receiver');

  // An admitted NE/NE message gets no ACK from the receiver; the gateway must not wait for one
  // (before the fix it timed out and closed the connection, losing what followed).
  conn.socket.write(encodeFrame(msg('N1', 'NE', 'NE', 'ADT^A01')));
  conn.socket.write(encodeFrame(msg('N2', '', '', 'ADT^A01')));
  t.match((await conn.reply('N2')).toString('latin1'), /MSA\|AA\|N2/, 'the message after an NE/NE one is acknowledged');
  t.same(receiver.messages.slice(-2).map((m) => parseMsh(m).controlId), ['N1', 'N2'], 'both reached the receiver');
});

t.test('enhanced mode with MSH-15 ER: no wait for an accept ACK that only errors bring; the late application ACK reaches the sender', async (t) => {
  // Found in review: only NE/NE was relayed without waiting. With MSH-15 ER (or SU) a receiver that
  // follows HL7 v2.5 §2.9.3 sends no accept ACK on success, so the gateway waited for the ACK timeout,
  // then closed the connection and lost what the sender had queued; the application ACK that came
  // later would have been dropped as unsolicited.
  const pki = await proxyPki(t);
  const inCert = await pki.issue('gw-in', [IN]);
  const got: string[] = [];
  const receiver = net.createServer((socket) => {
    const decoder = new MllpDecoder();
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      for (const payload of decoder.push(chunk)) {
        const msh = parseMsh(payload);
        got.push(msh.controlId);
        // §2.9.3: MSH-15 ER: no accept ACK on success; MSH-16 AL: the application ACK, once processed.
        // MSH-16 NE: no application ACK either, so nothing at all for a message that went well.
        if (msh.fields[15] === 'ER') {
          if (msh.fields[16] !== 'NE') setTimeout(() => socket.write(encodeFrame(buildAck(msh, { code: 'AA' }))), 300);
        }
        else socket.write(encodeFrame(buildAck(msh, { code: 'AA' })));
      }
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => receiver.close(() => resolve())));
  const inPort = await freeLoopbackPort();
  const gwlog: string[] = [];
  await startGateway(t, {
    routes: [{ name: 'lis-in', direction: 'inbound', protocol: 'hl7', listen: `${IN}:${inPort}`, upstream: `127.0.0.1:${(receiver.address() as net.AddressInfo).port}`, tls: { cert: [inCert.cert], key: [inCert.key], ca: pki.trust }, limits: { ackTimeoutMs: 5000 } }],
  }, gwlog);
  const client = await pki.issue('ris', ['ris.klinikum.internal']);
  const socket = tls.connect({ host: IN, port: inPort, servername: IN, ca: readFileSync(pki.trust), cert: readFileSync(client.cert), key: readFileSync(client.key) });
  t.teardown(() => socket.destroy());
  await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
  const decoder = new MllpDecoder();
  const replies: string[] = [];
  socket.on('data', (c: Buffer) => replies.push(...decoder.push(c).map((r) => r.toString('latin1'))));
  const msg = (id: string, accept: string, application: string) => encodeFrame(latin1(`MSH|^~\\&|RIS|RAD|LIS|LAB|20261126031500||ORU^R01|${id}|P|2.5|||${accept}|${application}\rOBX|1|ST|X||1\r`));
  const started = Date.now();
  socket.write(msg('A0', 'ER', 'NE'));
  socket.write(msg('A1', 'ER', 'AL'));
  socket.write(msg('A2', '', ''));
  const until = async (what: string, ok: () => boolean) => withTimeout(new Promise<void>((resolve) => { const tick = () => (ok() ? resolve() : setTimeout(tick, 20)); tick(); }), 15_000, what);
  await until('both ACKs', () => replies.some((r) => /\rMSA\|AA\|A1[|\r]/.test(r)) && replies.some((r) => /\rMSA\|AA\|A2[|\r]/.test(r)));
  const ms = Date.now() - started;
  t.ok(ms < 4000, `the original-mode message behind them was answered in ${ms} ms, not after the ${5000} ms ACK timeout`);
  t.notOk(replies.some((r) => /\rMSA\|[A-Z]{2}\|A0[|\r]/.test(r)), 'nothing answered A0 (the receiver sent nothing; the gateway made up nothing)');
  t.same(got, ['A0', 'A1', 'A2'], 'all three reached the receiver, in order');
  t.notOk(socket.destroyed, 'the connection stays open');
  t.notMatch(gwlog.join('\n'), /unsolicited|does not acknowledge/, 'the late application ACK was relayed, not dropped');
});

t.test('loose MLLP framing from real senders', async (t) => {
  const { connect, receiver } = await chain(t);
  const msg = (id: string, eol = '\r') => latin1(`MSH|^~\\&|RIS|RAD|LIS|LAB|20261126031500||ADT^A01|${id}|P|2.5${eol}PID|1||42${eol}`);
  const conn = await connect();
  // Several frames in one TCP segment, newlines between frames, LF and CR LF segment terminators.
  conn.socket.write(Buffer.concat([encodeFrame(msg('F1')), latin1('\r\n'), encodeFrame(msg('F2', '\n')), encodeFrame(msg('F3', '\r\n'))]));
  for (const id of ['F1', 'F2', 'F3']) t.match((await conn.reply(id)).toString('latin1'), new RegExp(`MSA\\|AA\\|${id}`), `${id} acknowledged`);
  // One frame written a byte at a time.
  for (const byte of encodeFrame(msg('F4'))) conn.socket.write(Buffer.from([byte]));
  t.match((await conn.reply('F4')).toString('latin1'), /MSA\|AA\|F4/, 'a frame split over many segments');
  t.same(receiver.messages.map((m) => m.toString('latin1')), [msg('F1'), msg('F2', '\n'), msg('F3', '\r\n'), msg('F4')].map((m) => m.toString('latin1')), 'relayed byte for byte, terminators unchanged');
  // 0x1C without its 0x0D, then the next frame: invalid framing, the connection is closed, nothing more is relayed.
  const bad = await connect();
  bad.socket.write(Buffer.concat([latin1('\x0b'), msg('F5'), latin1('\x1c'), encodeFrame(msg('F6'))]));
  await withTimeout(new Promise<void>((resolve) => bad.socket.once('close', () => resolve())), 15_000, 'the gateway closes a connection with broken framing');
  t.equal(receiver.messages.length, 4, 'neither message of the broken stream was relayed');
});
