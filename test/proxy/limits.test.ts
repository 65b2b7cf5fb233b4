/**
 * Limits on a running route: a peer over its connection limit is dropped before any byte is relayed,
 * a half-sent MLLP frame is cut off by the frame timeout (slowloris), and others keep being served.
 */
import net from 'node:net';
import t from 'tap';
import { encodeFrame } from '../../src/protocols/hl7/index.ts';
import { withTimeout } from '../protocols/fixtures/helpers.ts';
import { hl7Receiver } from './fixtures/hl7-receiver.ts';
import { freeLoopbackPort, startGateway } from './fixtures/peers.ts';
import { proxyPki } from './fixtures/pki.ts';

const GW = '127.30.9.1';

function closed(s: net.Socket): Promise<number> {
  const at = Date.now();
  return new Promise((resolve) => (s.destroyed ? resolve(0) : s.once('close', () => resolve(Date.now() - at))));
}

t.test('per-peer limit and frame timeout on an outbound HL7 route', async (t) => {
  const pki = await proxyPki(t);
  const cert = await pki.issue('gw', ['gw.klinikum.internal']);
  const receiver = await hl7Receiver(t);
  const inCert = await pki.issue('in', [GW]);
  const inPort = await freeLoopbackPort();
  const outPort = await freeLoopbackPort();
  const gateway = await startGateway(t, {
    routes: [
      { name: 'out', direction: 'outbound', protocol: 'hl7', listen: `${GW}:${outPort}`, upstream: `${GW}:${inPort}`, tls: { cert: [cert.cert], key: [cert.key], ca: pki.trust }, limits: { maxConnectionsPerPeer: 2, frameTimeoutMs: 500 } },
      { name: 'in', direction: 'inbound', protocol: 'hl7', listen: `${GW}:${inPort}`, upstream: `127.0.0.1:${receiver.port}`, tls: { cert: [inCert.cert], key: [inCert.key], ca: pki.trust } },
    ],
  });
  const open = async () => {
    const s = net.connect({ host: GW, port: outPort });
    s.on('error', () => undefined);
    s.resume();
    await new Promise((r) => s.once('connect', r));
    return s;
  };
  const a = await open();
  const b = await open();
  const c = await open();
  t.equal(await withTimeout(closed(c), 5000, 'third connection dropped') >= 0, true, 'third connection from the same peer dropped');
  t.equal(gateway.metrics.get('wardgate_denials_total', { route: 'out', reason: 'limit' }), 1, 'limit denial counted');

  // Slowloris: a frame that never ends is cut off after frameTimeoutMs.
  a.write(Buffer.from([0x0b, 0x4d, 0x53, 0x48]));
  const cut = await withTimeout(closed(a), 5000, 'slow frame cut off');
  t.ok(cut >= 400 && cut < 3000, `unfinished frame cut off after ${cut} ms`);

  // b still works end to end, and a new connection fits now that a's slot is free.
  const acks: Buffer[] = [];
  b.on('data', (d: Buffer) => acks.push(d));
  b.write(encodeFrame('MSH|^~\\&|RIS|R|LIS|L|20261126||ADT^A01|LIM1|P|2.5\r'));
  await withTimeout(new Promise<void>((r) => { const check = () => (Buffer.concat(acks).includes('MSA|AA|LIM1') ? r() : setTimeout(check, 20)); check(); }), 10_000, 'ACK on the surviving connection');
  t.pass('the other connection is still served');
  const d = await open();
  d.destroy();
  b.destroy();
});
