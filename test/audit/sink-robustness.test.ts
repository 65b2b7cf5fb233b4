/**
 * Audit sinks facing hostile content and broken peers: record framing that peer-supplied text cannot
 * break, a syslog collector that accepts the connection but never reads, a file sink whose disk
 * fails for a moment, and a file rotated or deleted under the sink (logrotate).
 */
import { existsSync, readFileSync, renameSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import net from 'node:net';
import tls from 'node:tls';
import t from 'tap';
import { Auditor, FileSink, TlsSyslogSink, applicationActivity, renderAuditMessage, securityAlert } from '../../src/audit/index.ts';
import { tempDir } from '../helpers/tmp.ts';
import { withTimeout } from '../protocols/fixtures/helpers.ts';
import { freeLoopbackPort } from '../proxy/fixtures/peers.ts';
import { proxyPki } from '../proxy/fixtures/pki.ts';

const ID = { sourceId: 'gw1', processId: 'wardgate@gw1' };

t.test('peer text cannot add a line to the audit file', async (t) => {
  // Found in review: XML attribute escaping kept TAB, LF and CR, so a peer value placed in an attribute
  // (certificate CN as UserName/UserID, HL7 sending application) could end the record's line in the
  // file sink and append a forged record of its own.
  const forged = 'dev\n<85>1 2026-01-01T00:00:00.000Z gw1 wardgate 1 IHE+RFC-3881 - forged\r\tx';
  const xml = renderAuditMessage(securityAlert(ID, 'node-authentication', { userId: forged, userName: `CN=${forged}`, address: '127.0.0.9' }, 'denied'));
  t.notMatch(xml, /[\n\r\t]/, 'no raw line break or tab in the record');
  t.match(xml, /UserID="dev&#10;&lt;85&gt;1 [^"]*forged&#13;&#9;x"/, 'kept as XML character references, so the value survives attribute normalisation');

  const path = join(tempDir(t), 'audit.log');
  const auditor = new Auditor([new FileSink(path, () => undefined)], { sourceId: 'gw' });
  auditor.record(securityAlert(auditor.identity, 'restricted-function', { userId: forged, address: '127.0.0.9' }, 'denied'));
  await auditor.close();
  t.equal(readFileSync(path, 'utf8').trimEnd().split('\n').length, 1, 'one record, one line');
});

t.test('syslog collector that accepts but never reads', async (t) => {
  // Found in review: once connected, every record went straight to socket.write(); with a collector
  // that stops reading (full TCP window) the socket's user-space buffer grew without limit (about 1 kB
  // per record, so 1 GB per million records), the maxQueue bound never applied and nothing was logged.
  const pki = await proxyPki(t);
  const collector = await pki.issue('collector', ['127.30.4.2']);
  const client = await pki.issue('gw', ['gw.klinikum.internal']);
  const held: tls.TLSSocket[] = [];
  const server = tls.createServer({ cert: readFileSync(collector.cert), key: readFileSync(collector.key) }, (s) => {
    s.pause();
    held.push(s);
  });
  const port = await freeLoopbackPort();
  await new Promise<void>((r) => server.listen(port, '127.30.4.2', r));
  t.teardown(() => {
    for (const s of held) s.destroy();
    server.close();
  });
  const errors: string[] = [];
  const sink = new TlsSyslogSink({ host: '127.30.4.2', port, ca: readFileSync(pki.trust, 'utf8'), cert: readFileSync(client.cert, 'utf8'), key: readFileSync(client.key, 'utf8'), maxQueue: 100 }, (e) => errors.push(e.message));
  t.teardown(() => sink.close(100));
  await withTimeout(new Promise<void>((resolve) => {
    const check = () => (held.length > 0 && sink.connected ? resolve() : setTimeout(check, 20));
    check();
  }), 10_000, 'connection to the collector');
  const record = `<85>1 - gw wardgate 1 IHE+RFC-3881 - ${'x'.repeat(1000)}`;
  for (let i = 0; i < 30_000; i++) sink.write(record);
  t.ok(sink.bufferedBytes < 4 * 1024 * 1024, `held in memory: ${sink.bufferedBytes} bytes for 30 MB written (bounded)`);
  t.ok(sink.dropped > 20_000, `records dropped and counted: ${sink.dropped}`);
  t.match(errors.join('\n'), /dropped \d+ audit record/, 'the loss is reported');
});

t.test('file sink recovers after a write error', async (t) => {
  // Found in review: after one write error (ENOSPC, EIO) the WriteStream is destroyed and every later
  // record was discarded silently until the gateway restarted, even once the disk had room again.
  const path = join(tempDir(t), 'audit.log');
  const errors: string[] = [];
  const sink = new FileSink(path, (e) => errors.push(e.message), { reopenDelayMs: 0 });
  const auditor = new Auditor([sink], { sourceId: 'gw' });
  auditor.record(applicationActivity(auditor.identity, 'start', 'before'));
  // The stream is private: failing it directly is the one way to get a real I/O error on a normal path.
  const stream = (sink as unknown as { stream: NodeJS.WritableStream & { destroy(err: Error): void } }).stream;
  await new Promise<void>((r) => stream.write('', () => r()));
  stream.destroy(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }));
  await new Promise((r) => setImmediate(r));
  auditor.record(applicationActivity(auditor.identity, 'start', 'after'));
  await auditor.close();
  const text = readFileSync(path, 'utf8');
  t.match(text, /route before started/);
  t.match(text, /route after started/, 'a record written after the error reaches the file');
  t.match(errors.join('\n'), /ENOSPC/, 'the error is reported');
});

t.test('file sink follows log rotation: renamed or deleted file, and reopen() on SIGHUP', async (t) => {
  // Found in review: the sink kept appending to the renamed file forever, and after logrotate's
  // compress step deleted it, every record went to an unlinked inode: lost audit trail.
  const dir = tempDir(t);
  const path = join(dir, 'audit.log');
  const sink = new FileSink(path, () => undefined, { rotationCheckMs: 20 });
  const auditor = new Auditor([sink], { sourceId: 'gw' });
  const flushed = () => new Promise<void>((r) => (sink as unknown as { stream: NodeJS.WritableStream }).stream.write('', () => r()));
  const until = async (what: string, ok: () => boolean) => {
    for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
    t.ok(ok(), what);
  };
  auditor.record(applicationActivity(auditor.identity, 'start', 'first'));
  await flushed();
  renameSync(path, `${path}.1`);
  await until('a new file appears at the path after the rename', () => existsSync(path));
  auditor.record(applicationActivity(auditor.identity, 'start', 'second'));
  await flushed();
  t.match(readFileSync(`${path}.1`, 'utf8'), /route first started/, 'the rotated file keeps what was written before');
  t.notMatch(readFileSync(`${path}.1`, 'utf8'), /route second started/);
  t.match(readFileSync(path, 'utf8'), /route second started/, 'later records go to the new file');

  unlinkSync(path);
  await until('the file is created again after deletion', () => existsSync(path));
  auditor.record(applicationActivity(auditor.identity, 'start', 'third'));
  await flushed();
  t.match(readFileSync(path, 'utf8'), /route third started/);

  // logrotate's postrotate `kill -HUP`: the gateway calls reopen() at once, no polling involved.
  const hup = join(dir, 'hup.log');
  const manual = new FileSink(hup, () => undefined, { rotationCheckMs: 0 });
  manual.write('one');
  await new Promise<void>((r) => (manual as unknown as { stream: NodeJS.WritableStream }).stream.write('', () => r()));
  renameSync(hup, `${hup}.1`);
  manual.reopen();
  manual.write('two');
  await manual.close();
  t.equal(readFileSync(`${hup}.1`, 'utf8'), 'one\n');
  t.equal(readFileSync(hup, 'utf8'), 'two\n');
  await auditor.close();
});

t.test('syslog collector that accepts TCP but never completes the TLS handshake', async (t) => {
  // Found in review: the handshake had no timeout, so a hung collector (TCP accepted, no ServerHello)
  // held the sink "connecting" forever: no reconnection, every record queued and then dropped.
  const pki = await proxyPki(t);
  const held: net.Socket[] = [];
  const server = net.createServer((s) => { held.push(s); });
  const port = await freeLoopbackPort();
  await new Promise<void>((r) => server.listen(port, '127.30.4.3', r));
  t.teardown(() => {
    for (const s of held) s.destroy();
    server.close();
  });
  const errors: string[] = [];
  const sink = new TlsSyslogSink({ host: '127.30.4.3', port, ca: readFileSync(pki.trust, 'utf8'), connectTimeoutMs: 300, reconnectMs: 50 }, (e) => errors.push(e.message));
  t.teardown(() => sink.close(100));
  await withTimeout(new Promise<void>((resolve) => {
    const check = () => (held.length >= 2 ? resolve() : setTimeout(check, 20));
    check();
  }), 20_000, 'a second connection attempt after the stalled handshake');
  t.match(errors.join('\n'), /no TLS handshake within 300 ms/, 'the stall is reported');
});
