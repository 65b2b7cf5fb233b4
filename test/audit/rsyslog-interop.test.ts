/**
 * Audit to a real syslog collector: rsyslogd (imtcp with the GnuTLS stream driver) receiving the
 * gateway's RFC 5424 records over RFC 5425 TLS with octet-counting framing, with mutual certificate
 * checks on both sides. A route carries real dcmtk associations so that the gateway itself emits
 * Application Activity, association Attach/Detach, Instances Transferred and Security Alert records.
 * The gateway's audit file is its own account of what it emitted; rsyslog must have each of them
 * with the RFC 5424 header fields as rsyslog parsed them and the XML byte for byte.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { TlsSyslogSink } from '../../src/audit/index.ts';
import { tempDir } from '../helpers/tmp.ts';
import { withTimeout } from '../protocols/fixtures/helpers.ts';
import { writeDicomFile } from '../proxy/fixtures/dicom-file.ts';
import { freeLoopbackPort, peerOption, requireBinary, run, startGateway, startStorescp } from '../proxy/fixtures/peers.ts';
import { type ProxyPki, proxyPki } from '../proxy/fixtures/pki.ts';
import { type ReceivedRecord, RsyslogCollector } from './fixtures/rsyslog-collector.ts';
import { type XmlNode, child, parseXml } from './fixtures/xml.ts';
import { utf8SubjectPeer } from './fixtures/utf8-subject-peer.ts';

const GW = '127.30.6.1';
const COLLECTOR_NAME = 'audit.klinikum.internal';
const GW_CLIENT_NAME = 'gw.klinikum.internal';
const UTF8_CN = 'Röntgen-Ärztin CT 2';

type T = Parameters<typeof startGateway>[0];

/** An RFC 5424 line of the gateway's audit file, split into its header fields. */
interface EmittedRecord {
  pri: string;
  timestamp: string;
  hostname: string;
  appName: string;
  procId: string;
  msgId: string;
  structuredData: string;
  xml: string;
}

function emitted(auditFile: string): EmittedRecord[] {
  return readFileSync(auditFile, 'utf8').split('\n').filter((l) => l.length > 0).map((line) => {
    const m = /^<(\d+)>1 (\S+) (\S+) (\S+) (\S+) (\S+) (-|\[.*?\]) \uFEFF(.*)$/.exec(line);
    if (!m) throw new Error(`not an RFC 5424 record with a BOM: ${line}`);
    const [, pri, timestamp, host, appName, procId, msgId, structuredData, xml] = m;
    return { pri, timestamp, hostname: host, appName, procId, msgId, structuredData, xml };
  });
}

async function until(what: string, ok: () => boolean, timeoutMs = 20_000): Promise<void> {
  await withTimeout(new Promise<void>((resolve) => {
    const check = () => (ok() ? resolve() : setTimeout(check, 50));
    check();
  }), timeoutMs, what);
}

/** Every emitted record is at rsyslog (duplicates allowed: records resent after a reset connection). */
function missingAtCollector(collector: RsyslogCollector, sent: EmittedRecord[]): EmittedRecord[] {
  const got = new Set(collector.records().map((r) => r.msg));
  return sent.filter((s) => !got.has(`\uFEFF${s.xml}`));
}

async function setup(t: T, name: string, collectorTls: (pki: ProxyPki, dir: string) => Promise<Parameters<RsyslogCollector['configure']>[0]>) {
  const pki = await proxyPki(t);
  const dir = tempDir(t);
  const port = await freeLoopbackPort();
  const host = `127.30.6.${10 + ['main', 'restart', 'refused', 'backoff', 'ca', 'name'].indexOf(name)}`;
  const collector = new RsyslogCollector(dir, host, port, await collectorTls(pki, dir));
  t.teardown(() => collector.stop('SIGKILL'));
  await collector.start();
  return { pki, dir, collector, address: `${host}:${port}` };
}

/** A DICOM inbound route (mutual TLS, CT1 allowed) in front of a plaintext storescp, auditing to the collector. */
async function gatewayWithRoute(t: T, pki: ProxyPki, dir: string, syslogAddress: string, extraTrust: string[] = []) {
  const gwServer = await pki.issue('gw-route', [GW]);
  const gwClient = await pki.issue('gw-syslog-client', [GW_CLIENT_NAME]);
  const trust = join(dir, 'route-trust.pem');
  writeFileSync(trust, [readFileSync(pki.trust, 'utf8'), ...extraTrust.map((f) => readFileSync(f, 'utf8'))].join('\n'));
  const stored = join(dir, 'stored');
  mkdirSync(stored);
  const scpPort = await freeLoopbackPort();
  await startStorescp(t, scpPort, stored);
  const port = await freeLoopbackPort();
  const auditFile = join(dir, 'audit.log');
  const log: string[] = [];
  const gateway = await startGateway(t, {
    routes: [{
      name: 'pacs-in', direction: 'inbound', protocol: 'dicom', listen: `${GW}:${port}`, upstream: `127.0.0.1:${scpPort}`,
      tls: { cert: [gwServer.cert], key: [gwServer.key], ca: trust }, limits: { artimTimeoutMs: 10_000 },
      allow: [{ peerSans: ['ct1.rad.klinikum.internal'], callingAeTitles: ['CT1'] }],
    }],
    audit: {
      file: auditFile,
      sourceId: 'gw1.klinikum.internal',
      syslog: { address: syslogAddress, ca: pki.trust, cert: gwClient.cert, key: gwClient.key, serverName: COLLECTOR_NAME },
    },
  }, log);
  const device = await pki.issue('ct1', ['ct1.rad.klinikum.internal']);
  const echo = async () => {
    const r = await run(requireBinary('echoscu'), ['-aet', 'CT1', '-aec', 'STORESCP', '+tls', device.key, device.cert, '+cf', pki.trust, GW, String(port)]);
    t.equal(r.code, 0, `echoscu +tls through the route: ${r.output}`);
  };
  return { gateway, auditFile, log, port, device, echo };
}

const trustedCollector = async (pki: ProxyPki) => {
  const c = await pki.issue('collector', [COLLECTOR_NAME]);
  return { ca: pki.trust, cert: c.cert, key: c.key, authMode: 'x509/name' as const, permittedPeers: [GW_CLIENT_NAME] };
};

t.test('gateway -> rsyslog over mutual TLS: every record, RFC 5424 fields as rsyslog parsed them, XML intact', peerOption('rsyslogd', 'storescu', 'echoscu', 'python3', 'openssl'), async (t) => {
  const { pki, dir, collector, address } = await setup(t, 'main', trustedCollector);
  const utf8 = await utf8SubjectPeer(dir, UTF8_CN, 'ct2.rad.klinikum.internal');
  const { gateway, auditFile, log, port, device } = await gatewayWithRoute(t, pki, dir, address, [utf8.ca]);

  const image = join(dir, 'image.dcm');
  const uid = '1.2.826.0.1.3680043.10.1234.66.1';
  writeDicomFile(image, { sopInstanceUid: uid, rows: 64, columns: 64 });
  const store = await run(requireBinary('storescu'), ['-aet', 'CT1', '-aec', 'STORESCP', '+tls', device.key, device.cert, '+cf', pki.trust, GW, String(port), image]);
  t.equal(store.code, 0, `storescu +tls through the route: ${store.output}`);
  // A peer with a valid certificate whose (UTF-8) subject no allow rule binds: refused, Security Alert.
  const denied = await run(requireBinary('echoscu'), ['-aet', 'CT2', '-aec', 'STORESCP', '+tls', utf8.key, utf8.cert, '+cf', pki.trust, GW, String(port)]);
  t.not(denied.code, 0, 'the unbound peer is refused');
  await gateway.stop(); // Application Stop, then the sinks flush and close.

  const sent = emitted(auditFile);
  t.ok(sent.length >= 6, `records emitted: ${sent.length}`);
  await until(`all ${sent.length} records at rsyslog`, () => missingAtCollector(collector, sent).length === 0).catch((err) => {
    t.fail(`${(err as Error).message}; missing: ${missingAtCollector(collector, sent).map((s) => s.xml.slice(0, 200)).join('\n')}; rsyslogd: ${collector.output}; gateway: ${log.join('\n')}`);
  });
  const received = collector.records();
  t.equal(received.length, sent.length, 'each record exactly once (no reconnection happened)');

  for (const s of sent) {
    const r = received.find((x) => x.msg === `\uFEFF${s.xml}`);
    if (!r) continue;
    // rsyslog's RFC 5424 parser (pmrfc5424) put every header field where we meant it to go.
    t.same(
      { pri: Number(r.facility) * 8 + Number(r.severity), version: r.version, hostname: r.hostname, appName: r.appName, procId: r.procId, msgId: r.msgId, sd: r.structuredData },
      { pri: Number(s.pri), version: '1', hostname: s.hostname, appName: 'wardgate', procId: String(process.pid), msgId: 'IHE+RFC-3881', sd: '-' },
      'header as rsyslog parsed it',
    );
    t.equal(r.timestamp, s.timestamp, 'TIMESTAMP parsed from the record, not replaced by the time of receipt');
    t.match(r.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{1,6}(Z|[+-]\d\d:\d\d)$/, 'RFC 3339 time with a time zone');
  }
  t.equal(sent[0].hostname, hostname().replace(/[^\x21-\x7e]/g, '') || '-', 'HOSTNAME is this host');
  t.equal(Number(received[0].facility), 10, 'facility 10 (security/authorization), IHE ITI-20');
  t.equal(Number(received[0].severity), 5, 'severity 5 (notice)');
  t.ok(received.every((r) => r.msg.startsWith('\uFEFF<?xml')), 'MSG is the BOM then the XML (RFC 5424 §6.4)');

  const docs = parseXml(received.map((r) => r.msg.slice(1)));
  t.ok(docs.every((d) => d.name === 'AuditMessage'), 'every body parses as an AuditMessage');
  const event = (d: XmlNode) => child(d, 'EventIdentification')[0];
  const codeOf = (d: XmlNode, what: 'EventID' | 'EventTypeCode') => child(event(d), what)[0]?.attrs.csd_code;
  const byType = (id: string, type?: string) => docs.filter((d) => codeOf(d, 'EventID') === id && (type === undefined || codeOf(d, 'EventTypeCode') === type));
  for (const d of docs) {
    t.ok(event(d) && child(d, 'ActiveParticipant').length > 0 && child(d, 'AuditSourceIdentification').length === 1, `PS3.15 A.5.1 structure in ${codeOf(d, 'EventID')}`);
    t.equal(child(d, 'AuditSourceIdentification')[0]?.attrs.AuditSourceID, 'gw1.klinikum.internal');
  }
  t.equal(byType('110100', '110120').length, 1, 'Application Activity: Application Start');
  t.equal(byType('110100', '110121').length, 1, 'Application Activity: Application Stop');
  t.equal(byType('110108', '110124').length, 1, 'Network Entry Attach: association established');
  t.equal(byType('110108', '110125').length, 1, 'Network Entry Detach: association closed');
  const transfer = byType('110104');
  t.equal(transfer.length, 1, 'DICOM Instances Transferred');
  t.equal(child(child(child(transfer[0], 'ParticipantObjectIdentification')[0], 'ParticipantObjectDescription')[0], 'SOPClass')[0]?.children[0]?.attrs.UID, uid, 'the stored instance is listed');
  const alerts = byType('110113', '110132');
  t.equal(alerts.length, 1, 'Security Alert (Use of Restricted Function) for the refused peer');
  const requestor = child(alerts[0], 'ActiveParticipant').find((p) => p.attrs.UserIsRequestor === 'true');
  t.equal(requestor?.attrs.UserName, `CN=${UTF8_CN}`, 'the UTF-8 certificate subject arrived intact at the collector');
  t.match(child(event(alerts[0]), 'EventOutcomeDescription')[0]?.text, UTF8_CN, 'also in the outcome description');
  t.notMatch(log.join('\n'), /audit:/, `no audit sink errors: ${log.join('\n')}`);
});

t.test('collector restart: the gateway reconnects and records from the outage arrive; nothing dropped', peerOption('rsyslogd', 'echoscu'), async (t) => {
  const { pki, dir, collector, address } = await setup(t, 'restart', trustedCollector);
  const { gateway, auditFile, log, echo } = await gatewayWithRoute(t, pki, dir, address);
  await collector.waitFor('Application Start', (r) => r.msg.includes('csd_code="110120"'));

  await collector.stop('SIGKILL');
  await echo(); // association records while the collector is down
  await until('a failed reconnection attempt in the gateway log', () => /audit: syslog collector .*ECONNREFUSED/.test(log.join('\n')));
  await collector.start();
  // The gateway's reconnection back-off doubles while the collector is down (2, 4, 8, 16 s ...).
  await until('the gateway reconnected and delivered the outage records', () => missingAtCollector(collector, emitted(auditFile)).length === 0, 45_000);
  const before = emitted(auditFile).length;
  await echo(); // and later records arrive too
  await until('the records after the restart at rsyslog', () => missingAtCollector(collector, emitted(auditFile)).length === 0, 45_000).catch((err) => t.fail(`${(err as Error).message}: ${log.join('\n')}`));
  await gateway.stop();
  t.ok(emitted(auditFile).length >= before + 3, `records after the restart (Attach, Detach, Application Stop): ${emitted(auditFile).length - before}`);
  const sent = emitted(auditFile);
  await until('every record at rsyslog', () => missingAtCollector(collector, sent).length === 0).catch((err) => t.fail(`${(err as Error).message}: ${log.join('\n')}`));
  t.same(missingAtCollector(collector, sent), [], 'no record lost across the restart');
  t.match(gateway.metrics.render(), /wardgate_audit_records_dropped_total\{sink="syslog"\} 0\n/, 'no record dropped');
});

t.test('collector that refuses the gateway certificate after the handshake: records are kept and arrive once it accepts', peerOption('rsyslogd', 'echoscu'), async (t) => {
  // Found with rsyslog: it completes the TLS handshake, then checks the client's name (x509/name) and
  // resets the connection. The sink had already written its queue on 'secureConnect', so every record
  // was lost without being counted as dropped, on every reconnection, until the collector was fixed.
  const { pki, dir, collector, address } = await setup(t, 'refused', async (pki) => ({ ...(await trustedCollector(pki)), permittedPeers: ['other-gw.klinikum.internal'] }));
  const { gateway, auditFile, log, echo } = await gatewayWithRoute(t, pki, dir, address);
  await echo();
  await until('rsyslog refused the gateway certificate name', () => /peer name not authorized/.test(collector.output));
  t.same(collector.records(), [], 'nothing accepted while the name is not permitted');

  // The operator fixes the collector's PermittedPeer and restarts it.
  await collector.stop();
  collector.configure(await trustedCollector(pki));
  await collector.start();
  const sent = emitted(auditFile);
  await until('the records from before the fix at rsyslog', () => missingAtCollector(collector, sent).length === 0, 30_000).catch((err) => {
    t.fail(`${(err as Error).message}; missing ${missingAtCollector(collector, sent).length} of ${sent.length}; gateway: ${log.join('\n')}`);
  });
  t.match(log.join('\n'), /connection closed; \d+ audit record\(s\) it may not have read will be sent again/, 'the log says what was at risk');
  await gateway.stop();
  const all = emitted(auditFile);
  await until('every record at rsyslog', () => missingAtCollector(collector, all).length === 0).catch((err) => t.fail(String(err)));
  t.match(gateway.metrics.render(), /wardgate_audit_records_dropped_total\{sink="syslog"\} 0\n/, 'none dropped');
});

t.test('collector that keeps refusing the gateway certificate: reconnection backs off', peerOption('rsyslogd'), async (t) => {
  // Found with rsyslog: the back-off was reset on every completed handshake, so a collector that
  // refuses us after it was retried every reconnectMs forever, each time with an error in the log.
  const { pki, collector, address } = await setup(t, 'backoff', async (pki) => ({ ...(await trustedCollector(pki)), permittedPeers: ['other-gw.klinikum.internal'] }));
  const client = await pki.issue('gw-syslog-client', [GW_CLIENT_NAME]);
  const [host, port] = address.split(':');
  const sink = new TlsSyslogSink({ host, port: Number(port), serverName: COLLECTOR_NAME, ca: readFileSync(pki.trust, 'utf8'), cert: readFileSync(client.cert, 'utf8'), key: readFileSync(client.key, 'utf8'), reconnectMs: 100 }, () => undefined);
  t.teardown(() => sink.close(100));
  sink.write('<85>1 - gw wardgate 1 IHE+RFC-3881 - \uFEFF<AuditMessage/>');
  const refusals = () => collector.output.match(/peer name not authorized/g)?.length ?? 0;
  await until('the first refusal', () => refusals() >= 1);
  const first = Date.now();
  await until('five more attempts', () => refusals() >= 6, 30_000);
  const elapsed = Date.now() - first;
  // Doubling from 100 ms: 100 + 200 + 400 + 800 + 1600 ms at least; without back-off about 5 x 100 ms.
  t.ok(elapsed >= 3000, `five reconnections took ${elapsed} ms (back-off doubles)`);
  t.same(collector.records(), [], 'nothing accepted');
});

for (const [name, why, bad] of [
  ['ca', 'a certificate from another CA', (pki: ProxyPki) => pki.foreign('rogue-collector', [COLLECTOR_NAME])],
  ['name', 'a certificate of our CA for another name', (pki: ProxyPki) => pki.issue('wrong-collector', ['syslog.klinikum.internal'])],
] as const) {
  t.test(`collector with ${why} is refused by the gateway: nothing sent`, peerOption('rsyslogd'), async (t) => {
    const { pki, dir, collector, address } = await setup(t, name, async (pki) => {
      const c = await bad(pki);
      return { ca: pki.trust, cert: c.cert, key: c.key, authMode: 'x509/certvalid' as const };
    });
    const { gateway, log } = await gatewayWithRoute(t, pki, dir, address);
    await until('the gateway refused the collector', () => /audit: syslog collector .*(certificate|issuer|Hostname\/IP does not match)/i.test(log.join('\n')));
    t.match(log.join('\n'), name === 'ca' ? /unable to (get local issuer|verify)/i : /Hostname\/IP does not match certificate's altnames/, 'the reason is logged');
    t.same(collector.records(), [], 'rsyslog received nothing');
    t.ok(gateway.auditor.count > 0, 'records were produced (and held back)');
  });
}
