/**
 * An outbound route's upstream asks for a TLS 1.2 renegotiation (HelloRequest, RFC 5246 §7.4.1.1) in the
 * middle of a session: the gateway refuses it (no_renegotiation warning, no second handshake), and when the
 * upstream then closes the connection the route's log says why. The upstream is a real openssl s_server,
 * told to renegotiate by typing `r` on its stdin, as an operator would.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import t from 'tap';
import { encodeFrame } from '../../src/protocols/hl7/index.ts';
import { withTimeout } from '../protocols/fixtures/helpers.ts';
import { freeLoopbackPort, peerOption, startGateway } from './fixtures/peers.ts';
import { proxyPki } from './fixtures/pki.ts';

const UPSTREAM = '127.45.2.1';
const LISTEN = '127.45.2.3';

async function until(read: () => string, pattern: RegExp, label: string): Promise<void> {
  await withTimeout((async () => {
    while (!pattern.test(read())) await new Promise((r) => setTimeout(r, 25));
  })(), 10_000, label);
}

t.test('an upstream HelloRequest is refused, and the route logs why the upstream then closed', peerOption('openssl'), async (t) => {
  const pki = await proxyPki(t);
  const gw = await pki.issue('gw', ['gw.klinikum.internal']);
  const upstreamCert = await pki.issue('ris', [UPSTREAM]);
  const upstreamPort = await freeLoopbackPort();
  // -msg prints every handshake message and alert in both directions.
  const server = spawn('openssl', ['s_server', '-accept', `${UPSTREAM}:${upstreamPort}`, '-tls1_2', '-cert', upstreamCert.cert, '-key', upstreamCert.key, '-CAfile', pki.trust, '-msg'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  server.stdout.on('data', (d) => (output += d));
  server.stderr.on('data', (d) => (output += d));
  t.teardown(() => { server.kill('SIGKILL'); });
  await until(() => output, /ACCEPT/, 's_server listening');

  const port = await freeLoopbackPort();
  const log: string[] = [];
  await startGateway(t, {
    routes: [{ name: 'ris-out', direction: 'outbound', protocol: 'hl7', listen: `${LISTEN}:${port}`, upstream: `${UPSTREAM}:${upstreamPort}`, tls: { cert: [gw.cert], key: [gw.key], ca: pki.trust } }],
  }, log);
  const client = net.connect({ host: LISTEN, port });
  client.on('error', () => undefined);
  t.teardown(() => { client.destroy(); });
  await new Promise((r) => client.once('connect', r));
  client.write(encodeFrame('MSH|^~\\&|LIS|FAC|RIS|RFAC|20260101120000||ADT^A01|RENEG1|P|2.5\rPID|1||1\r'));
  await until(() => output, /RENEG1/, 'the message reached the upstream');

  server.stdin.write('r\n');
  await until(() => output, /HelloRequest[\s\S]*(no_renegotiation|ClientHello)/, 'the gateway answered the HelloRequest');
  await new Promise((r) => setTimeout(r, 300));
  const clientHellos = output.match(/, ClientHello/g)?.length ?? 0;
  t.equal(clientHellos, 1, 'no second ClientHello: the gateway did not renegotiate');
  t.match(output, /<<< TLS 1\.2, Alert \[length 0002\], warning no_renegotiation/, 'it answered with a no_renegotiation warning');
  // s_server answers the refusal with a fatal handshake_failure alert, which closes the connection.
  await until(() => log.join('\n'), /upstream .*refused its TLS renegotiation/, 'the route logged the reason');
  t.match(log.join('\n'), new RegExp(`route ris-out: upstream ${UPSTREAM.replace(/\./g, '\\.')}:${upstreamPort}: the upstream closed the connection after wardgate refused its TLS renegotiation request`), 'logged with the route and upstream named');
  await withTimeout(new Promise((r) => (client.destroyed ? r(undefined) : client.once('close', r))), 5000, 'client connection closed');
  t.pass('the client connection was closed with the upstream one');
});
