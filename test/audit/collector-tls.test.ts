/**
 * RFC 5425 §5 from the network path to the collector: the sink must not send a record to a collector
 * that offers only TLS < 1.2 or no TLS at all. Records are held (bounded, counted) instead, and nothing
 * audit-shaped crosses the wire in clear.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import t from 'tap';
import { Auditor, TlsSyslogSink, securityAlert } from '../../src/audit/index.ts';
import { withTimeout } from '../protocols/fixtures/helpers.ts';
import { freeLoopbackPort } from '../proxy/fixtures/peers.ts';
import { proxyPki } from '../proxy/fixtures/pki.ts';

async function until(what: string, ok: () => boolean): Promise<void> {
  await withTimeout(new Promise<void>((resolve) => {
    const check = () => (ok() ? resolve() : setTimeout(check, 20));
    check();
  }), 10_000, what);
}

t.test('collector that speaks only TLS 1.1: refused, records held, nothing sent', async (t) => {
  const pki = await proxyPki(t);
  const host = '127.47.0.2';
  const cert = await pki.issue('collector-old', [host]);
  let received = 0;
  let handshakes = 0;
  // SECLEVEL=0: OpenSSL 3 refuses TLS 1.1 itself otherwise; this collector is deliberately outdated.
  const server = tls.createServer({ cert: readFileSync(cert.cert), key: readFileSync(cert.key), minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }, (s) => {
    handshakes++;
    s.on('data', (d: Buffer) => (received += d.length));
  });
  const errors: string[] = [];
  server.on('tlsClientError', () => errors.push('server saw a failed handshake'));
  const port = await freeLoopbackPort();
  await new Promise<void>((r) => server.listen(port, host, r));
  t.teardown(() => server.close());
  const sink = new TlsSyslogSink({ host, port, ca: readFileSync(pki.trust, 'utf8'), reconnectMs: 100 }, (e) => errors.push(e.message));
  t.teardown(() => sink.close(100));
  const auditor = new Auditor([sink], { sourceId: 'gw' });
  auditor.record(securityAlert(auditor.identity, 'node-authentication', { userId: 'CT1', address: '127.47.0.9' }, 'denied'));
  await until('the sink refused the TLS 1.1 collector', () => errors.some((e) => /syslog collector .*(protocol|version)/i.test(e)));
  t.notOk(sink.connected, 'not connected');
  t.equal(handshakes, 0, 'no TLS session was established');
  t.equal(received, 0, 'the collector received no record');
  t.equal(sink.dropped, 0, 'the record is held for a collector that can be trusted, not dropped');
});

t.test('collector that answers in plaintext: no fallback, no record in clear', async (t) => {
  const pki = await proxyPki(t);
  const host = '127.47.0.3';
  let raw = Buffer.alloc(0);
  const server = net.createServer((s) => {
    s.on('data', (d: Buffer) => (raw = Buffer.concat([raw, d])));
    s.on('error', () => undefined);
    s.write('220 plaintext syslog, go ahead\r\n');
  });
  const port = await freeLoopbackPort();
  await new Promise<void>((r) => server.listen(port, host, r));
  t.teardown(() => server.close());
  const errors: string[] = [];
  const sink = new TlsSyslogSink({ host, port, ca: readFileSync(pki.trust, 'utf8'), reconnectMs: 100, connectTimeoutMs: 500 }, (e) => errors.push(e.message));
  t.teardown(() => sink.close(100));
  const auditor = new Auditor([sink], { sourceId: 'gw' });
  auditor.record(securityAlert(auditor.identity, 'node-authentication', { userId: 'SECRET-AE', address: '127.47.0.9' }, 'denied'));
  await until('the sink gave up on the plaintext peer', () => errors.length > 0);
  await new Promise((r) => setTimeout(r, 300));
  t.ok(raw.length > 0 && raw[0] === 0x16, 'the peer got a TLS handshake record (0x16) only');
  t.notMatch(raw.toString('latin1'), /SECRET-AE|AuditMessage|IHE\+RFC-3881/, 'no audit content in clear');
  t.notOk(sink.connected);
});
