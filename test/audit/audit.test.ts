/**
 * Audit records: PS3.15 A.5 XML inside RFC 5424 messages, to a file and, with RFC 5425 octet counting,
 * to a syslog collector over mutual TLS. The collector is a real `openssl s_server` requiring our
 * client certificate; its raw output is split with the RFC 5425 framing.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import {
  Auditor, FileSink, TlsSyslogSink, applicationActivity, associationEvent, formatSyslog, instancesTransferred, octetFrame, renderAuditMessage,
  securityAlert, splitOctetFrames,
} from '../../src/audit/index.ts';
import { tempDir } from '../helpers/tmp.ts';
import { withTimeout } from '../protocols/fixtures/helpers.ts';
import { freeLoopbackPort, peerOption } from '../proxy/fixtures/peers.ts';
import { proxyPki } from '../proxy/fixtures/pki.ts';

const ID = { sourceId: 'gw1.klinikum.internal', processId: 'wardgate@gw1' };

t.test('PS3.15 A.5 messages', async (t) => {
  const when = new Date('2026-11-26T03:00:00.000Z');
  const start = renderAuditMessage(applicationActivity(ID, 'start', 'pacs-in', when));
  t.match(start, /^<\?xml version="1\.0" encoding="UTF-8"\?><AuditMessage><EventIdentification EventActionCode="E" EventDateTime="2026-11-26T03:00:00\.000Z" EventOutcomeIndicator="0">/);
  t.match(start, /<EventID csd_code="110100" codeSystemName="DCM" originalText="Application Activity"\/><EventTypeCode csd_code="110120"/);
  t.match(start, /<AuditSourceIdentification AuditSourceID="gw1\.klinikum\.internal">/);
  t.notMatch(start, /\n/, 'one line');

  const alert = renderAuditMessage(securityAlert(ID, 'node-authentication', { userId: '10.20.0.9', address: '10.20.0.9' }, 'client certificate rejected: <CERT_HAS_EXPIRED> & "more"', 4, when));
  t.match(alert, /csd_code="110113"[\s\S]*csd_code="110126"/, 'Security Alert / Node Authentication');
  t.match(alert, /EventOutcomeIndicator="4"/);
  t.match(alert, /&lt;CERT_HAS_EXPIRED&gt; &amp; "more"/, 'text escaped');
  t.match(alert, /NetworkAccessPointID="10\.20\.0\.9" NetworkAccessPointTypeCode="2"/, 'IP access point');

  const src = { userId: 'CT1', address: '10.20.0.5', userName: 'CN=ct1' };
  const dst = { userId: 'PACS', address: '10.20.0.1' };
  t.match(renderAuditMessage(associationEvent(ID, 'established', src, dst, 'ok', 0, when)), /csd_code="110108"[\s\S]*csd_code="110124"[\s\S]*UserID="CT1" UserName="CN=ct1" UserIsRequestor="true"[\s\S]*csd_code="110153"/);
  const moved = renderAuditMessage(instancesTransferred(ID, src, dst, { bySopClass: new Map([['1.2.840.10008.5.1.4.1.1.2', ['1.2.3.4', '1.2.3.5']]]) }, 0, when));
  t.match(moved, /csd_code="110104"[\s\S]*<SOPClass UID="1\.2\.840\.10008\.5\.1\.4\.1\.1\.2" NumberOfInstances="2"><Instance UID="1\.2\.3\.4"\/><Instance UID="1\.2\.3\.5"\/><\/SOPClass>/);
});

t.test('RFC 5424 message and RFC 5425 framing', async (t) => {
  const line = formatSyslog('<x>é</x>', new Date('2026-11-26T03:00:00.000Z'), { hostname: 'gw 1', procId: '42' });
  t.equal(line, '<85>1 2026-11-26T03:00:00.000Z gw1 wardgate 42 IHE+RFC-3881 - \uFEFF<x>é</x>', 'PRI 85 (authpriv.notice), header fields without spaces, BOM before UTF-8 MSG');
  const frame = octetFrame(line);
  t.equal(frame.toString('ascii', 0, frame.indexOf(0x20)), String(Buffer.byteLength(line)), 'MSG-LEN counts octets, not characters');
  const both = Buffer.concat([frame, octetFrame('second'), Buffer.from('12 trunc')]);
  const { messages, rest } = splitOctetFrames(both);
  t.same(messages, [line, 'second']);
  t.equal(rest.toString(), '12 trunc', 'a partial frame is left for later');
});

t.test('file sink: one record per line', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'audit.log');
  const auditor = new Auditor([new FileSink(path, () => undefined)], { sourceId: 'gw' });
  auditor.record(applicationActivity(auditor.identity, 'start', 'r1'));
  auditor.record(applicationActivity(auditor.identity, 'stop', 'r1'));
  await auditor.close();
  const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
  t.equal(lines.length, 2);
  t.match(lines[1], /csd_code="110121"/, 'Application Stop');
});

t.test('TLS syslog sink -> openssl s_server collector requiring a client certificate', peerOption('openssl'), async (t) => {
  const pki = await proxyPki(t);
  const collectorCert = await pki.issue('collector', ['127.30.4.1']);
  const client = await pki.issue('gw', ['gw.klinikum.internal']);
  const port = await freeLoopbackPort();
  const server = spawn('openssl', ['s_server', '-accept', `127.30.4.1:${port}`, '-cert', collectorCert.cert, '-key', collectorCert.key, '-CAfile', pki.trust, '-Verify', '2', '-verify_return_error', '-quiet'], { stdio: ['pipe', 'pipe', 'pipe'] });
  t.teardown(() => { server.kill('SIGKILL'); });
  let raw = Buffer.alloc(0);
  let err = '';
  server.stdout.on('data', (d: Buffer) => (raw = Buffer.concat([raw, d])));
  server.stderr.on('data', (d) => (err += d));
  await new Promise((r) => setTimeout(r, 500));
  const errors: string[] = [];
  const sink = new TlsSyslogSink({ host: '127.30.4.1', port, ca: readFileSync(pki.trust, 'utf8'), cert: readFileSync(client.cert, 'utf8'), key: readFileSync(client.key, 'utf8'), reconnectMs: 200 }, (e) => errors.push(e.message));
  const auditor = new Auditor([sink], { sourceId: 'gw' });
  // Recorded before the connection is up: queued, then flushed in order.
  auditor.record(applicationActivity(auditor.identity, 'start', 'pacs-in'));
  auditor.record(securityAlert(auditor.identity, 'node-authentication', { userId: '127.0.0.9', address: '127.0.0.9' }, 'Ünknown CA'));
  await withTimeout(new Promise<void>((resolve) => {
    const check = () => (splitOctetFrames(raw).messages.length >= 2 ? resolve() : setTimeout(check, 50));
    check();
  }), 10_000, `two records at the collector (stderr: ${err})`);
  await auditor.close();
  const { messages, rest } = splitOctetFrames(raw);
  t.equal(messages.length, 2, 'two octet-counted records');
  t.equal(rest.length, 0, 'nothing but whole frames');
  t.match(messages[0], /^<85>1 \S+ \S+ wardgate \d+ IHE\+RFC-3881 - \uFEFF<\?xml[^\n]*csd_code="110120"/);
  t.match(messages[1], /Ünknown CA/, 'UTF-8 text intact (MSG-LEN counted in octets)');
  t.same(errors, [], 'no sink errors');
});
