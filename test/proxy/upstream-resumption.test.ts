/**
 * Upstream TLS session resumption (RFC 8446 §2.2, §4.6.1): an outbound route's second and later
 * upstream connections resume the session of an earlier one instead of a full handshake, still
 * verified against the upstream's name; a session is not offered after the credentials change.
 * The upstream is a TLS MLLP receiver with a certificate from the test CA; each connection reports
 * whether the server side saw a resumed session (`isSessionReused()`).
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import t from 'tap';
import { loadKeyPairs } from '../../src/proxy/credentials.ts';
import { MllpDecoder, buildAck, encodeFrame } from '../../src/protocols/hl7/index.ts';
import { freeLoopbackPort, startGateway } from './fixtures/peers.ts';
import { proxyPki } from './fixtures/pki.ts';

type T = Parameters<Parameters<typeof t.test>[0]>[0];

async function tlsReceiver(t: T, cert: { cert: string; key: string }, trust: string, maxVersion: tls.SecureVersion) {
  const resumed: boolean[] = [];
  const open = new Set<net.Socket>();
  const server = tls.createServer({ cert: readFileSync(cert.cert), key: readFileSync(cert.key), ca: readFileSync(trust), requestCert: true, rejectUnauthorized: true, maxVersion }, (socket) => {
    resumed.push(socket.isSessionReused());
    open.add(socket);
    socket.once('close', () => open.delete(socket));
    const decoder = new MllpDecoder();
    socket.on('data', (chunk: Buffer) => {
      for (const payload of decoder.push(chunk)) socket.write(encodeFrame(buildAck(payload, { code: 'AA' })));
    });
    socket.on('error', () => undefined);
  });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  t.teardown(() => new Promise<void>((resolve) => { server.close(() => resolve()); for (const s of open) s.destroy(); }));
  return { port: (server.address() as net.AddressInfo).port, resumed };
}

/** One HL7 message through the route's plaintext side; resolves with the ACK's MSA-1. */
function sendOne(port: number, host: string, id: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const decoder = new MllpDecoder();
    const timer = setTimeout(() => { socket.destroy(); reject(new Error('no ACK within 5 s')); }, 5000);
    socket.once('connect', () => socket.write(encodeFrame(`MSH|^~\\&|LIS|FAC|RIS|RFAC|20260101120000||ADT^A01|RES${id}|P|2.5\rPID|1||${id}\r`)));
    socket.on('data', (d: Buffer) => {
      for (const ack of decoder.push(d)) {
        clearTimeout(timer);
        socket.end();
        resolve(/\rMSA\|([A-Z]{2})/.exec(ack.toString('latin1'))?.[1] ?? '?');
      }
    });
    socket.on('error', (err) => { clearTimeout(timer); reject(err); });
  });
}

for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
  t.test(`outbound route resumes its upstream TLS session (${maxVersion})`, async (t) => {
    const pki = await proxyPki(t);
    const gw = await pki.issue('gateway', ['gw.klinikum.internal']);
    const upstreamCert = await pki.issue('ris', ['ris.klinikum.internal']);
    const receiver = await tlsReceiver(t, upstreamCert, pki.trust, maxVersion);
    const listen = '127.30.7.1';
    const port = await freeLoopbackPort();
    const route = { name: 'hl7-out', direction: 'outbound', protocol: 'hl7', listen: `${listen}:${port}`, upstream: `127.0.0.1:${receiver.port}`, tls: { cert: [gw.cert], key: [gw.key], ca: pki.trust, serverName: 'ris.klinikum.internal' } };
    const gateway = await startGateway(t, { routes: [route] });
    for (let i = 1; i <= 4; i++) t.equal(await sendOne(port, listen, i), 'AA', `message ${i} acknowledged through the route`);
    t.same(receiver.resumed, [false, true, true, true], 'first upstream handshake full, every later one resumed');

    // New credentials: the cached session belongs to the old context and is not offered again.
    const again = await pki.issue('gateway2', ['gw.klinikum.internal']);
    gateway.routes[0].updateCredentials(loadKeyPairs([again.cert], [again.key]));
    t.equal(await sendOne(port, listen, 5), 'AA', 'acknowledged after the credential swap');
    t.equal(receiver.resumed[4], false, 'first connection after the swap: full handshake');
    t.equal(await sendOne(port, listen, 6), 'AA');
    t.equal(receiver.resumed[5], true, 'and resumed after that');
  });
}

t.test('a resumed upstream session is not used once the upstream certificate has expired', async (t) => {
  // The stored session carries the verify result of the full handshake; the gateway checks the
  // certificate's expiry itself on resumption, drops the session and refuses the connection.
  const pki = await proxyPki(t);
  const gw = await pki.issue('gateway', ['gw.klinikum.internal']);
  const upstreamCert = await pki.expiringIn('ris-short', ['ris.klinikum.internal'], 3000);
  const expiresAt = Date.parse(new X509Certificate(readFileSync(upstreamCert.cert)).validTo);
  const receiver = await tlsReceiver(t, upstreamCert, pki.trust, 'TLSv1.3');
  const listen = '127.30.7.3';
  const port = await freeLoopbackPort();
  const log: string[] = [];
  await startGateway(t, { routes: [{ name: 'hl7-out', direction: 'outbound', protocol: 'hl7', listen: `${listen}:${port}`, upstream: `127.0.0.1:${receiver.port}`, tls: { cert: [gw.cert], key: [gw.key], ca: pki.trust, serverName: 'ris.klinikum.internal' } }] }, log);
  t.equal(await sendOne(port, listen, 1), 'AA', 'acknowledged while the upstream certificate is valid');
  t.equal(await sendOne(port, listen, 2), 'AA');
  t.same(receiver.resumed, [false, true], 'the second upstream connection resumed');
  if (Date.now() > expiresAt) return t.fail('the certificate expired before the valid resumption was checked (machine too slow)');
  await new Promise((r) => setTimeout(r, expiresAt - Date.now() + 1100));
  const after = await sendOne(port, listen, 3).catch((err: Error) => `no ACK: ${err.message}`);
  t.not(after, 'AA', `not relayed over a resumed session with an expired upstream certificate (${after})`);
  t.match(log.join('\n'), /upstream certificate expired .* \(resumed session\)/, 'the log says why');
  const next = await sendOne(port, listen, 4).catch((err: Error) => `no ACK: ${err.message}`);
  t.not(next, 'AA', 'the next connection makes a full handshake, which verification refuses');
  t.equal(receiver.resumed.at(-1) === true && receiver.resumed.length > 3, false, 'no further resumption offered');
});

t.test('sessions are per route: a route expecting another upstream name is still refused by verification after a sibling route resumed', async (t) => {
  const pki = await proxyPki(t);
  const gw = await pki.issue('gateway', ['gw.klinikum.internal']);
  const upstreamCert = await pki.issue('ris', ['ris.klinikum.internal']);
  const receiver = await tlsReceiver(t, upstreamCert, pki.trust, 'TLSv1.3');
  const listen = '127.30.7.2';
  const good = await freeLoopbackPort();
  const bad = await freeLoopbackPort();
  const route = (name: string, p: number, serverName: string) => ({ name, direction: 'outbound', protocol: 'hl7', listen: `${listen}:${p}`, upstream: `127.0.0.1:${receiver.port}`, tls: { cert: [gw.cert], key: [gw.key], ca: pki.trust, serverName } });
  await startGateway(t, { routes: [route('good', good, 'ris.klinikum.internal'), route('bad', bad, 'pacs.klinikum.internal')] });
  t.equal(await sendOne(good, listen, 1), 'AA');
  t.equal(await sendOne(good, listen, 2), 'AA');
  t.same(receiver.resumed, [false, true], 'the good route resumes');
  let outcome: string;
  try {
    outcome = await sendOne(bad, listen, 3);
  } catch (err) {
    outcome = `error: ${(err as Error).message}`;
  }
  t.not(outcome, 'AA', `a route expecting another name gets no ACK from this upstream (${outcome})`);
});
