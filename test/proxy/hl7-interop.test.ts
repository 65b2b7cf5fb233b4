/**
 * HL7 v2 through two gateways with the real python3-hl7 `mllp_send` (-f FILE holding MLLP frames;
 * its stdin mode is broken on Python 3): sender -> outbound route
 * (plaintext in, mTLS out) -> inbound route (mTLS in, plaintext out) -> receiver, ACK returned.
 * A message type the inbound route's allow rules refuse is answered with a NAK (MSA-1 AR) by the
 * gateway and never reaches the receiver.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { encodeFrame } from '../../src/protocols/hl7/index.ts';
import { tempDir } from '../helpers/tmp.ts';
import { hl7Receiver } from './fixtures/hl7-receiver.ts';
import { freeLoopbackPort, peerOption, requireBinary, run, startGateway } from './fixtures/peers.ts';
import { proxyPki } from './fixtures/pki.ts';

const OUT = '127.30.1.1';
const IN = '127.30.1.2';

function message(type: string, controlId: string): string {
  return [
    `MSH|^~\\&|RIS|RADIOLOGY|LIS|LAB|20261126031500||${type}|${controlId}|P|2.5`,
    'PID|1||WG0001^^^KLINIKUM^MR||Test^Patient||19700101|F',
    'PV1|1|O',
  ].join('\r') + '\r';
}

t.test('mllp_send -> outbound -> inbound -> receiver: ACK returned; refused type gets NAK AR', peerOption('mllp_send'), async (t) => {
  const pki = await proxyPki(t);
  const work = tempDir(t);
  const inboundCert = await pki.issue('gw-in', [IN, 'lis-gw.klinikum.internal']);
  const outboundCert = await pki.issue('gw-out', ['ris-gw.klinikum.internal'], 'rsa-2048');
  const receiver = await hl7Receiver(t);
  const inPort = await freeLoopbackPort();
  const outPort = await freeLoopbackPort();
  const auditFile = join(work, 'audit.log');
  const gateway = await startGateway(t, {
    routes: [
      { name: 'ris-out', direction: 'outbound', protocol: 'hl7', listen: `${OUT}:${outPort}`, upstream: `${IN}:${inPort}`, tls: { cert: [outboundCert.cert], key: [outboundCert.key], ca: pki.trust } },
      {
        name: 'lis-in', direction: 'inbound', protocol: 'hl7', listen: `${IN}:${inPort}`, upstream: `127.0.0.1:${receiver.port}`,
        tls: { cert: [inboundCert.cert], key: [inboundCert.key], ca: pki.trust },
        allow: [{ peerSans: ['ris-gw.klinikum.internal'], sendingApplications: ['RIS'], messageTypes: ['ADT^A01', 'ORM'] }],
      },
    ],
    audit: { file: auditFile },
  });
  const mllpSend = requireBinary('mllp_send');

  const ok = join(work, 'adt.hl7');
  writeFileSync(ok, encodeFrame(message('ADT^A01^ADT_A01', 'MSG00001')));
  const sent = await run(mllpSend, ['-p', String(outPort), '-f', ok, OUT]);
  t.equal(sent.code, 0, `mllp_send exit status: ${sent.output}`);
  t.match(sent.output, /MSA\|AA\|MSG00001/, 'the receiver\'s ACK came back through both gateways');
  t.equal(receiver.messages.length, 1, 'the receiver got one message');
  // mllp_send drops the final segment terminator before framing; the gateways pass the rest through unchanged.
  t.equal(receiver.messages[0], message('ADT^A01^ADT_A01', 'MSG00001').replace(/\r$/, ''), 'the message arrives byte-identical to what mllp_send framed');

  const refused = join(work, 'oru.hl7');
  writeFileSync(refused, encodeFrame(message('ORU^R01^ORU_R01', 'MSG00002')));
  const nak = await run(mllpSend, ['-p', String(outPort), '-f', refused, OUT]);
  t.match(nak.output, /MSA\|AR\|MSG00002/, `NAK AR for the refused message type: ${nak.output}`);
  t.equal(receiver.messages.length, 1, 'the refused message never reached the receiver');
  t.equal(gateway.metrics.get('wardgate_denials_total', { route: 'lis-in', reason: 'policy' }), 1, 'denial counted');
  t.equal(gateway.metrics.get('wardgate_messages_total', { route: 'ris-out' }), 2, 'outbound relayed both (the NAK is a reply too)');
  await new Promise((r) => setTimeout(r, 200));
  t.match(readFileSync(auditFile, 'utf8'), /csd_code="110132"[^\n]*HL7 message MSG00002 refused/, 'refusal audited');
});

t.test('inbound HL7 route: plaintext sender refused before any byte reaches the receiver', peerOption('mllp_send'), async (t) => {
  const pki = await proxyPki(t);
  const work = tempDir(t);
  const inboundCert = await pki.issue('gw-in', [IN]);
  const receiver = await hl7Receiver(t);
  const inPort = await freeLoopbackPort();
  await startGateway(t, {
    routes: [{ name: 'lis-in', direction: 'inbound', protocol: 'hl7', listen: `${IN}:${inPort}`, upstream: `127.0.0.1:${receiver.port}`, tls: { cert: [inboundCert.cert], key: [inboundCert.key], ca: pki.trust } }],
  });
  const file = join(work, 'adt.hl7');
  writeFileSync(file, encodeFrame(message('ADT^A01', 'MSG00003')));
  const r = await run(requireBinary('mllp_send'), ['-p', String(inPort), '-f', file, IN], 20_000);
  t.notMatch(r.output, /MSA\|AA/, `no ACK for a plaintext sender: ${r.output.slice(0, 200)}`);
  t.equal(receiver.connections(), 0, 'the receiver saw no connection');
});
