/**
 * `wardgate serve`'s listeners as a LAN attacker sees them. Found in review: the HTTPS listener ran on
 * Node's TLS defaults (CBC with SHA-1, CCM_8, ARIA next to the BCP 195 suites), waited 120 s for a
 * handshake however slowly its bytes came, then kept a connection that sent no request open for good,
 * with no cap in total or per address (the plain-HTTP distribution listener the same): one host could
 * hold every file descriptor of the CA. Real peers: openssl s_client, node tls/https.
 */
import https from 'node:https';
import tls from 'node:tls';
import t from 'tap';
import { closedWithin, connectFrom } from '../helpers/connection-probes.ts';
import { startServer, acmeTlsOptions, type RunningServer, type ListenerLimits } from '../../src/acme/serve.ts';
import { issueServerCertificate } from '../../src/acme/server-certificate.ts';
import type { CertificateAuthority } from '../../src/pki/ca.ts';
import { identifierFromText } from '../../src/pki/names.ts';
import { freePort } from '../../src/net/free-port.ts';
import { testCa } from '../helpers/ca.ts';
import { withTimeout } from '../protocols/fixtures/helpers.ts';
import { peerOption, run } from '../proxy/fixtures/peers.ts';

const HOST = '127.55.4.1';

async function serve(t: Parameters<typeof testCa>[0], ca: CertificateAuthority, limits?: Partial<ListenerLimits>): Promise<RunningServer & { port: number; httpPort: number }> {
  const port = await freePort(HOST);
  const server = await startServer(ca, { listen: { host: HOST, port }, httpListen: { host: HOST, port: 0 }, acme: {}, limits });
  t.teardown(() => server.close());
  return { ...server, port, httpPort: Number(new URL(server.distributionUrl).port) };
}



function directory(port: number, ca: CertificateAuthority, from: string): Promise<number> {
  return withTimeout(new Promise<number>((resolve, reject) => {
    https.get({ host: HOST, port, path: '/acme/directory', ca: ca.rootPem, localAddress: from, agent: false }, (res) => { res.resume(); resolve(res.statusCode ?? 0); }).on('error', reject);
  }), 5000, 'directory');
}

async function sClient(port: number, args: string[], input = ''): Promise<string> {
  return (await run('bash', ['-c', `printf '${input}' | openssl s_client -connect ${HOST}:${port} ${args.join(' ')} 2>&1; sleep 0`], 10_000)).output;
}

const REFUSED = /handshake failure|no shared cipher|alert/i;
const OLD_VERSION = /alert protocol version|no protocols available|unsupported protocol|wrong version/i;

t.test('the HTTPS listener speaks the BCP 195 profile, also after its certificate is renewed', peerOption('openssl'), async (t) => {
  const { ca } = await testCa(t);
  const server = await serve(t, ca);
  const check = async (when: string) => {
    t.match(await sClient(server.port, ['-brief', '-tls1_3']), /Protocol version: TLSv1\.3/, `${when}: TLS 1.3`);
    t.match(await sClient(server.port, ['-brief', '-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-GCM-SHA256']), /Ciphersuite: ECDHE-ECDSA-AES128-GCM-SHA256/, `${when}: TLS 1.2 with AES-GCM`);
    for (const v of ['-tls1', '-tls1_1']) t.match(await sClient(server.port, [v, '-cipher', 'ALL:@SECLEVEL=0']), OLD_VERSION, `${when}: ${v} refused`);
    for (const suite of ['ECDHE-ECDSA-AES128-SHA', 'ECDHE-ECDSA-AES256-SHA384', 'ECDHE-ECDSA-AES128-CCM8', 'ECDHE-ECDSA-ARIA128-GCM-SHA256']) {
      t.match(await sClient(server.port, ['-tls1_2', '-cipher', suite]), REFUSED, `${when}: ${suite} refused`);
    }
    const reneg = await sClient(server.port, ['-tls1_2'], 'R\\n');
    t.match(reneg, /RENEGOTIATING/, `${when}: the client asked to renegotiate`);
    t.match(reneg, /no renegotiation|alert/i, `${when}: refused`);
  };
  await check('at start');
  // What keepServerCertificateFresh hands over at renewal: a new secure context replaces the whole old one.
  const renewed = await issueServerCertificate(ca, [identifierFromText(HOST)]);
  (server.acme.server as unknown as tls.Server).setSecureContext(acmeTlsOptions(renewed.cert, renewed.key));
  t.match(await sClient(server.port, ['-showcerts', '-tls1_3']), new RegExp(renewed.cert.split('\n')[1].replace(/[+/]/g, '\\$&')), 'the renewed certificate is served');
  await check('after renewal');
});

t.test('connections are capped and timed out before and after the handshake', async (t) => {
  const { ca } = await testCa(t);
  const server = await serve(t, ca, { maxConnections: 3, maxConnectionsPerAddress: 2, handshakeTimeoutMs: 600, idleTimeoutMs: 600 });

  // Two connections that never send a byte, and a third from the same address.
  const a = await connectFrom(HOST, server.port, '127.55.4.10');
  const b = await connectFrom(HOST, server.port, '127.55.4.10');
  const c = await connectFrom(HOST, server.port, '127.55.4.10');
  t.ok(await closedWithin(c, 300) >= 0, 'a third connection from one address is closed at once');
  t.equal(await directory(server.port, ca, '127.55.4.11'), 200, 'another address is still served');
  for (const s of [a, b]) {
    const ms = await closedWithin(s, 5000);
    t.ok(ms >= 0 && ms < 3000, `a connection that never sends a byte is closed (${ms} ms)`);
  }

  // A ClientHello dribbled a byte at a time, each well inside the timeout: the handshake's total counts.
  const slow = await connectFrom(HOST, server.port, '127.55.4.12');
  const hello = Buffer.from('16030102000100', 'hex');
  let i = 0;
  const drip = setInterval(() => { if (!slow.destroyed) slow.write(hello.subarray(i % hello.length, (i++ % hello.length) + 1)); }, 100);
  const dripped = await closedWithin(slow, 5000);
  clearInterval(drip);
  t.ok(dripped >= 400 && dripped < 3000, `a dribbled ClientHello is cut off after ${dripped} ms`);

  // A finished handshake, then no request.
  const raw = await connectFrom(HOST, server.port, '127.55.4.13');
  const quiet = await withTimeout(new Promise<tls.TLSSocket>((resolve, reject) => {
    const s = tls.connect({ socket: raw, host: HOST, ca: ca.rootPem });
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
  }), 5000, 'handshake');
  quiet.on('error', () => undefined);
  const idle = await closedWithin(quiet, 5000);
  t.ok(idle >= 400 && idle < 3000, `a TLS connection that sends no request is closed after ${idle} ms`);

  // The total: three held from three addresses, a fourth refused.
  const held = await Promise.all(['127.55.4.20', '127.55.4.21', '127.55.4.22'].map((from) => connectFrom(HOST, server.port, from)));
  const fourth = await connectFrom(HOST, server.port, '127.55.4.23');
  t.ok(await closedWithin(fourth, 300) >= 0, 'a fourth connection is refused while three are open');
  for (const s of held) s.destroy();
});

t.test('the plain-HTTP distribution listener has the same caps and idle timeout', async (t) => {
  const { ca } = await testCa(t);
  const server = await serve(t, ca, { maxConnections: 10, maxConnectionsPerAddress: 1, idleTimeoutMs: 600 });
  const a = await connectFrom(HOST, server.httpPort, '127.55.4.30');
  const b = await connectFrom(HOST, server.httpPort, '127.55.4.30');
  t.ok(await closedWithin(b, 300) >= 0, 'a second connection from one address is closed at once');
  const ms = await closedWithin(a, 5000);
  t.ok(ms >= 400 && ms < 3000, `a connection that never sends a byte is closed after ${ms} ms`);
});
