/**
 * The fuzzer's TLS-free harness (route.ts WithoutTls, `wardgate fuzz --route --plaintext`): the route's
 * TLS side runs in plaintext, inbound connections carry the names the harness gives, and the allow
 * rules judge those names as they judge a verified certificate's. Without the harness the same route
 * speaks only TLS.
 */
import net from 'node:net';
import t from 'tap';
import { Gateway } from '../../src/proxy/gateway.ts';
import { validateGatewayConfig } from '../../src/proxy/route-config.ts';
import { MllpDecoder, encodeFrame } from '../../src/protocols/hl7/index.ts';
import { withTimeout } from '../protocols/fixtures/helpers.ts';
import { hl7Receiver } from './fixtures/hl7-receiver.ts';
import { freeLoopbackPort } from './fixtures/peers.ts';
import { proxyPki } from './fixtures/pki.ts';

type Test = Parameters<typeof proxyPki>[0];
const HOST = '127.43.0.1';
const message = (id: string) => Buffer.from(`MSH|^~\\&|LAB|KLINIKUM|RIS|KLINIKUM|20261127120000||ORU^R01|${id}|P|2.5\rPID|1||4711^^^KLINIKUM||DOE^JANE\r`, 'latin1');

async function gatewayFor(t: Test, direction: 'inbound' | 'outbound', sans: string[] | undefined) {
  const pki = await proxyPki(t);
  const gw = await pki.issue('gw', [HOST]);
  const receiver = await hl7Receiver(t);
  const port = await freeLoopbackPort();
  const config = validateGatewayConfig({
    routes: [{
      name: `lab-${direction}`, direction, protocol: 'hl7', listen: `${HOST}:${port}`, upstream: `127.0.0.1:${receiver.port}`,
      tls: { cert: [gw.cert], key: [gw.key], ca: pki.trust },
      allow: direction === 'inbound' ? [{ peerSans: ['lab-gw.klinikum.internal'], sendingApplications: ['LAB'] }] : [{ sendingApplications: ['LAB'] }],
    }],
  }, 'test config');
  const gateway = new Gateway(config, { log: () => undefined, withoutTls: sans ? { peer: { subjects: [], sans } } : undefined });
  await gateway.start();
  t.teardown(() => gateway.stop());
  return { port, receiver };
}

/** Sends one MLLP message in plaintext and returns the first reply, or '' when the gateway closes without one. */
function exchange(port: number, id: string): Promise<string> {
  return withTimeout(new Promise<string>((resolve) => {
    const socket = net.connect(port, HOST, () => socket.write(encodeFrame(message(id))));
    const decoder = new MllpDecoder();
    socket.on('data', (chunk: Buffer) => {
      const [reply] = decoder.push(chunk);
      if (reply) {
        resolve(reply.toString('latin1'));
        socket.destroy();
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(''));
  }), 10_000, `reply to ${id}`);
}

t.test('inbound: a plaintext client is relayed when the harness names it as the allow rule asks', async (t) => {
  const { port, receiver } = await gatewayFor(t, 'inbound', ['lab-gw.klinikum.internal']);
  const reply = await exchange(port, 'M1');
  t.match(reply, /MSA\|AA\|M1/, 'the receiver\'s ACK comes back');
  t.equal(receiver.messages.length, 1, 'the receiver got the message');
});

t.test('inbound: a plaintext client named otherwise is refused with a NAK and never reaches the receiver', async (t) => {
  const { port, receiver } = await gatewayFor(t, 'inbound', ['other.klinikum.internal']);
  const reply = await exchange(port, 'M2');
  t.match(reply, /MSA\|AR\|M2/, 'rejected (AR) by the gateway');
  t.equal(receiver.connections(), 0, 'the receiver saw no connection');
});

t.test('outbound: the gateway reaches a plaintext upstream under the harness', async (t) => {
  const { port, receiver } = await gatewayFor(t, 'outbound', []);
  const reply = await exchange(port, 'M3');
  t.match(reply, /MSA\|AA\|M3/, 'relayed and acknowledged');
  t.match(receiver.messages[0] ?? '', /\|M3\|/, 'the receiver got it in plaintext');
});

t.test('without the harness the inbound route speaks only TLS: a plaintext client gets no reply', async (t) => {
  const { port, receiver } = await gatewayFor(t, 'inbound', undefined);
  t.equal(await exchange(port, 'M4'), '', 'closed without a reply');
  t.equal(receiver.connections(), 0, 'the receiver saw no connection');
});

t.test('without the harness the outbound route verifies its upstream over TLS: a plaintext upstream gets nothing', async (t) => {
  const { port, receiver } = await gatewayFor(t, 'outbound', undefined);
  const reply = await exchange(port, 'M5');
  t.notMatch(reply, /MSA\|AA/, `not acknowledged by the receiver (${JSON.stringify(reply.slice(0, 80))})`);
  t.equal(receiver.messages.length, 0, 'no message reached the plaintext receiver');
});
