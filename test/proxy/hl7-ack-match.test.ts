/**
 * HL7 v2 §2.9.2: the acknowledgment handed back to the sender must be the one for its message (MSA-2 =
 * MSH-10). A hostile or confused upstream that sends an extra ACK for another control ID first must not
 * get that ACK delivered as the answer (found while reviewing the fuzzer's report).
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import t from 'tap';
import { MllpDecoder, encodeFrame, parseAck } from '../../src/protocols/hl7/index.ts';
import { freeLoopbackPort, startGateway } from './fixtures/peers.ts';
import { proxyPki } from './fixtures/pki.ts';

const HOST = '127.30.7.1';
const msg = (id: string) => `MSH|^~\\&|RIS|RAD|LIS|LAB|20261126051500||ADT^A01|${id}|P|2.5\rPID|1||WG1^^^K^MR||Test^Pat\r`;
const ack = (id: string) => `MSH|^~\\&|LIS|LAB|RIS|RAD|20261126051501||ACK|A${id}|P|2.5\rMSA|AA|${id}\r`;

t.test('an ACK for another message is dropped; the matching one is delivered', async (t) => {
  const pki = await proxyPki(t);
  const upstreamCert = await pki.issue('lis', [HOST]);
  const gwCert = await pki.issue('gw', ['gw.klinikum.internal']);
  // The upstream answers every message with a stray ACK for "STALE" first, then the right one.
  const upstream = tls.createServer({ cert: readFileSync(upstreamCert.cert), key: readFileSync(upstreamCert.key), ca: readFileSync(pki.trust), requestCert: true, rejectUnauthorized: true }, (s) => {
    const dec = new MllpDecoder();
    s.on('error', () => undefined);
    s.on('data', (d) => {
      for (const frame of dec.push(d)) {
        const id = frame.toString('latin1').split('\r')[0].split('|')[9];
        s.write(encodeFrame(Buffer.from(ack('STALE'), 'latin1')));
        s.write(encodeFrame(Buffer.from(ack(id), 'latin1')));
      }
    });
  });
  const upPort = await freeLoopbackPort();
  await new Promise<void>((r) => upstream.listen(upPort, HOST, r));
  t.teardown(() => upstream.close());
  const port = await freeLoopbackPort();
  await startGateway(t, { routes: [{ name: 'ris-out', direction: 'outbound', protocol: 'hl7', listen: `${HOST}:${port}`, upstream: `${HOST}:${upPort}`, tls: { cert: [gwCert.cert], key: [gwCert.key], ca: pki.trust } }] });

  const sender = net.connect({ host: HOST, port });
  t.teardown(() => sender.destroy());
  const dec = new MllpDecoder();
  const replies: string[] = [];
  sender.on('data', (d) => { for (const f of dec.push(d)) replies.push(parseAck(f).controlIdReferenced); });
  for (const id of ['M1', 'M2', 'M3']) {
    sender.write(encodeFrame(Buffer.from(msg(id), 'latin1')));
    const deadline = Date.now() + 5000;
    while (replies.length < ['M1', 'M2', 'M3'].indexOf(id) + 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }
  await new Promise((r) => setTimeout(r, 200));
  t.same(replies, ['M1', 'M2', 'M3'], 'each message got its own acknowledgment, none of the stray ones');
});
