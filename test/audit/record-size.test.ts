/**
 * Audit records within what syslog collectors accept. RFC 5425 §4.3.1: a receiver SHOULD process
 * messages of up to 8192 octets and MAY accept larger ones; rsyslog's default maxMessageSize is 8k.
 * A DICOM Instances Transferred record (PS3.15 A.5.3.5) lists every SOP instance of an association,
 * so a study of a few hundred instances is tens of KB: such an event is sent as several complete
 * records, each with the same participants and a share of the instances, and any record is bounded
 * (long peer text is cut with a visible marker) rather than left for the collector to truncate.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import {
  Auditor, type AuditSink, DEFAULT_MESSAGE_BYTES, FileSink, MIN_MESSAGE_BYTES, TRUNCATION_MARK, TlsSyslogSink, applicationActivity, associationEvent,
  formatSyslog, instancesTransferred, renderAuditMessage, securityAlert,
} from '../../src/audit/index.ts';
import { validateGatewayConfig } from '../../src/proxy/route-config.ts';
import { tempDir } from '../helpers/tmp.ts';
import { withTimeout } from '../protocols/fixtures/helpers.ts';
import { SECONDARY_CAPTURE, writeDicomFile } from '../proxy/fixtures/dicom-file.ts';
import { freeLoopbackPort, peerOption, requireBinary, run, startGateway, startStorescp } from '../proxy/fixtures/peers.ts';
import { proxyPki } from '../proxy/fixtures/pki.ts';
import { RsyslogCollector } from './fixtures/rsyslog-collector.ts';
import { type XmlNode, child, parseXml } from './fixtures/xml.ts';

const GW = '127.30.47.1';
const COLLECTOR = '127.30.47.2';
const COLLECTOR_NAME = 'audit.klinikum.internal';
const GW_CLIENT_NAME = 'gw.klinikum.internal';
const ID = { sourceId: 'gw1.klinikum.internal', processId: 'wardgate@gw1' };
const CT = '1.2.840.10008.5.1.4.1.1.2';
const MR = '1.2.840.10008.5.1.4.1.1.4';

const eventId = (d: XmlNode) => child(child(d, 'EventIdentification')[0], 'EventID')[0]?.attrs.csd_code;

/** The SOPClass elements of an Instances Transferred record: class UID, NumberOfInstances and the instance UIDs. */
function sopClasses(d: XmlNode) {
  return child(d, 'ParticipantObjectIdentification').flatMap((o) => child(child(o, 'ParticipantObjectDescription')[0], 'SOPClass')).map((s) => ({
    uid: s.attrs.UID,
    count: Number(s.attrs.NumberOfInstances),
    instances: child(s, 'Instance').map((i) => i.attrs.UID),
  }));
}

/** A sink that keeps what it is given, with a size limit like the syslog sink's. */
class MemorySink implements AuditSink {
  readonly records: string[] = [];
  readonly dropped = 0;
  constructor(readonly maxMessageBytes?: number) {}
  write(message: string): void { this.records.push(message); }
  async close(): Promise<void> {}
}

/** The XML of an RFC 5424 record as the Auditor writes it (after the BOM). */
const xmlOf = (line: string) => line.slice(line.indexOf('\uFEFF') + 1);
const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

const uids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `1.2.826.0.1.3680043.10.1234.${prefix}.20261126093000.${i + 1}`);

t.test('Instances Transferred with many instances: complete records within the limit, every instance once', peerOption('python3'), async (t) => {
  const sink = new MemorySink(8192);
  const auditor = new Auditor([sink], { sourceId: ID.sourceId });
  const ct = uids('1', 1500);
  const mr = uids('2', 40);
  const src = { userId: 'CT1', address: '10.20.0.5', userName: 'CN=ct1.rad.klinikum.internal,O=Klinikum' };
  const dst = { userId: 'PACS', address: '10.20.0.1' };
  const message = instancesTransferred(auditor.identity, src, dst, { bySopClass: new Map([[CT, ct], [MR, mr]]) }, 0);
  auditor.record(message);

  t.ok(sink.records.length > 1, `split into ${sink.records.length} records`);
  t.ok(sink.records.every((r) => bytes(r) <= 8192), `every record within 8192 octets (largest ${Math.max(...sink.records.map(bytes))})`);
  // Records are packed: only the last one may be far from the limit.
  t.ok(sink.records.slice(0, -1).every((r) => bytes(r) > 8192 - 200), 'records are filled, not one instance each');
  const docs = parseXml(sink.records.map(xmlOf));
  const whole = parseXml([renderAuditMessage(message)])[0];
  const same = (name: string) => docs.every((d) => JSON.stringify(child(d, name)) === JSON.stringify(child(whole, name)));
  t.ok(docs.every((d) => eventId(d) === '110104'), 'each record is a DICOM Instances Transferred message');
  t.ok(same('EventIdentification'), 'each with the same event identification, time and outcome');
  t.ok(same('ActiveParticipant'), 'each with the same participants');
  t.ok(same('AuditSourceIdentification'), 'each with the same audit source');
  const classes = docs.flatMap(sopClasses);
  t.ok(classes.every((s) => s.count === s.instances.length && s.count > 0), 'NumberOfInstances is the count in that record; no SOP class without instances');
  const seen: Record<string, string[]> = { [CT]: [], [MR]: [] };
  for (const s of classes) seen[s.uid].push(...s.instances);
  t.same(seen[CT], ct, 'every CT instance exactly once, in order');
  t.same(seen[MR], mr, 'every MR instance exactly once, in order');
  t.equal(auditor.count, 1, 'one audit event');
});

t.test('a limit is per sink: the file keeps the whole record, a bounded sink gets the split ones', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'audit.log');
  const bounded = new MemorySink(4096);
  const auditor = new Auditor([new FileSink(path, () => undefined), bounded], { sourceId: ID.sourceId });
  const ct = uids('3', 300);
  auditor.record(instancesTransferred(auditor.identity, { userId: 'CT1' }, { userId: 'PACS' }, { bySopClass: new Map([[CT, ct]]) }, 0));
  await auditor.close();
  const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
  t.equal(lines.length, 1, 'one line in the file');
  t.match(lines[0], `NumberOfInstances="300"`, 'with all instances');
  t.ok(bounded.records.length >= 5 && bounded.records.every((r) => bytes(r) <= 4096), `${bounded.records.length} records within 4096 octets`);
});

t.test('a record that cannot fit even with one instance: the longest text is cut with a marker, the XML stays valid', peerOption('python3'), async (t) => {
  const sink = new MemorySink(8192);
  const auditor = new Auditor([sink], { sourceId: ID.sourceId });
  // A peer certificate subject of 30 KB with characters that XML escaping and UTF-8 make longer.
  const huge = `CN=${'Röntgen & <Ärztin> "CT" '.repeat(1250)}`;
  const src = { userId: 'CT1', address: '10.20.0.5', userName: huge };
  const dst = { userId: 'PACS', address: '10.20.0.1' };
  auditor.record(instancesTransferred(auditor.identity, src, dst, { bySopClass: new Map([[CT, uids('4', 3)]]) }, 0));
  auditor.record(securityAlert(auditor.identity, 'restricted-function', src, `association refused: no rule binds ${huge}`));
  auditor.record(associationEvent(auditor.identity, 'established', src, { ...dst, userName: huge }, 'ok'));

  t.ok(sink.records.every((r) => bytes(r) <= 8192), `every record within 8192 octets (${sink.records.map(bytes).join(', ')})`);
  const docs = parseXml(sink.records.map(xmlOf));
  const transfers = docs.filter((d) => eventId(d) === '110104');
  t.same(transfers.flatMap((d) => sopClasses(d).flatMap((s) => s.instances)), uids('4', 3), 'every instance still listed');
  const names = docs.map((d) => child(d, 'ActiveParticipant').map((p) => p.attrs.UserName).filter((n) => n !== undefined));
  t.ok(names.every((n) => n.length > 0 && n.every((x) => x.endsWith(TRUNCATION_MARK) && huge.startsWith(x.slice(0, -TRUNCATION_MARK.length)))), 'the subject is cut, with the marker, in every record');
  t.ok(names.flat().every((n) => n.length > 1000), `and keeps what fits (${names.flat().map((n) => n.length).join(', ')} characters)`);
  t.ok(docs.every((d) => child(d, 'ActiveParticipant')[0].attrs.UserID === 'CT1'), 'short fields are left whole');
  const alert = docs.find((d) => eventId(d) === '110113');
  t.match(child(child(alert, 'EventIdentification')[0], 'EventOutcomeDescription')[0]?.text, /^association refused: no rule binds CN=Röntgen/, 'the alert reason is kept as far as it fits');
});

t.test(`every message fits the smallest limit (${MIN_MESSAGE_BYTES} octets) however long its text`, peerOption('python3'), async (t) => {
  const sink = new MemorySink(MIN_MESSAGE_BYTES);
  const auditor = new Auditor([sink], { sourceId: 'gw1.'.repeat(2000) });
  const long = (what: string) => `${what}-${'x'.repeat(20_000)}`;
  const src = { userId: long('ae'), address: long('host'), userName: long('subject') };
  const dst = { userId: long('ae2'), address: long('host2'), userName: long('subject2') };
  auditor.record(instancesTransferred(auditor.identity, src, dst, { bySopClass: new Map([[long('class'), [long('uid'), long('uid2')]], [CT, uids('6', 200)]]) }, 0));
  auditor.record(securityAlert(auditor.identity, 'node-authentication', src, long('reason')));
  auditor.record(associationEvent(auditor.identity, 'closed', src, dst, long('detail')));
  auditor.record(applicationActivity(auditor.identity, 'start', long('route')));
  t.ok(sink.records.every((r) => bytes(r) <= MIN_MESSAGE_BYTES), `every record within ${MIN_MESSAGE_BYTES} octets (largest ${Math.max(...sink.records.map(bytes))})`);
  const docs = parseXml(sink.records.map(xmlOf));
  t.same([...new Set(docs.map(eventId))].sort(), ['110100', '110104', '110108', '110113'], 'every event is there');
  t.equal(docs.flatMap(sopClasses).reduce((n, s) => n + s.count, 0), 202, 'every instance is listed');
});

t.test('audit.syslog.maxMessageBytes in the gateway config', async (t) => {
  const config = (maxMessageBytes: unknown) => ({
    routes: [{ name: 'r', direction: 'inbound', protocol: 'dicom', listen: '127.30.47.1:11112', upstream: '127.0.0.1:104', tls: { cert: ['c.pem'], key: ['k.pem'], ca: 'ca.pem' }, allow: [{ callingAeTitles: ['CT1'] }] }],
    audit: { syslog: { address: '127.30.47.2:6514', ca: 'ca.pem', maxMessageBytes } },
  });
  t.equal(validateGatewayConfig(config(65536), 'test').audit?.syslog?.maxMessageBytes, 65536, 'a larger limit for a collector that accepts it');
  for (const bad of [1000, 8192.5, '8k', 2 ** 31]) {
    t.throws(() => validateGatewayConfig(config(bad), 'test'), { code: 'CONFIG_INVALID' }, `refused: ${JSON.stringify(bad)}`);
  }
  t.throws(() => new TlsSyslogSink({ host: '127.30.47.2', port: 6514, ca: '', maxMessageBytes: 480 }, () => undefined), { code: 'CONFIG_INVALID' }, 'the sink refuses a limit no record fits');
});

t.test('storescu with 300 instances through a route -> rsyslog with its default maxMessageSize: every record valid, every instance there', peerOption('rsyslogd', 'storescu', 'storescp', 'python3'), async (t) => {
  const pki = await proxyPki(t);
  const dir = tempDir(t);
  const collectorCert = await pki.issue('collector', [COLLECTOR_NAME]);
  const collectorPort = await freeLoopbackPort();
  const collector = new RsyslogCollector(dir, COLLECTOR, collectorPort, {
    ca: pki.trust, cert: collectorCert.cert, key: collectorCert.key, authMode: 'x509/name', permittedPeers: [GW_CLIENT_NAME], maxMessageSize: null,
  });
  t.teardown(() => collector.stop('SIGKILL'));
  await collector.start();

  const gwServer = await pki.issue('gw-route', [GW]);
  const gwClient = await pki.issue('gw-syslog-client', [GW_CLIENT_NAME]);
  const stored = join(dir, 'stored');
  mkdirSync(stored);
  const scpPort = await freeLoopbackPort();
  await startStorescp(t, scpPort, stored);
  const port = await freeLoopbackPort();
  const log: string[] = [];
  const gateway = await startGateway(t, {
    routes: [{
      name: 'pacs-in', direction: 'inbound', protocol: 'dicom', listen: `${GW}:${port}`, upstream: `127.0.0.1:${scpPort}`,
      tls: { cert: [gwServer.cert], key: [gwServer.key], ca: pki.trust }, limits: { artimTimeoutMs: 10_000 },
      allow: [{ peerSans: ['ct1.rad.klinikum.internal'], callingAeTitles: ['CT1'] }],
    }],
    audit: { file: join(dir, 'audit.log'), sourceId: 'gw1.klinikum.internal', syslog: { address: `${COLLECTOR}:${collectorPort}`, ca: pki.trust, cert: gwClient.cert, key: gwClient.key, serverName: COLLECTOR_NAME } },
  }, log);

  // 300 small instances (a CT series is easily 500-2,000) in one association.
  const images = join(dir, 'images');
  mkdirSync(images);
  const sent = uids('5', 300);
  const files = sent.map((uid, i) => {
    const file = join(images, `${i}.dcm`);
    writeDicomFile(file, { sopInstanceUid: uid, rows: 8, columns: 8 });
    return file;
  });
  const device = await pki.issue('ct1', ['ct1.rad.klinikum.internal']);
  const store = await run(requireBinary('storescu'), ['-aet', 'CT1', '-aec', 'STORESCP', '+tls', device.key, device.cert, '+cf', pki.trust, GW, String(port), ...files], 60_000);
  t.equal(store.code, 0, `storescu stored 300 instances through the route: ${store.output.slice(-500)}`);
  // The relay records Detach and Instances Transferred once both of its sockets closed, which can be
  // after storescu exits: Application Start, Attach, Detach, Instances Transferred.
  await withTimeout(new Promise<void>((resolve) => {
    const check = () => (gateway.auditor.count >= 4 ? resolve() : setTimeout(check, 50));
    check();
  }), 20_000, 'the association audit records');
  await gateway.stop(); // Application Stop is the last record; the syslog sink flushes before closing.

  // Records travel in order on one connection: once Application Stop is there, so is everything before it.
  await collector.waitFor('Application Stop', (r) => r.msg.includes('csd_code="110121"'), 1, 30_000);
  const received = collector.records();
  t.ok(received.every((r) => r.msg.startsWith('\uFEFF<?xml')), 'every record rsyslog stored starts with the BOM and the XML declaration');
  let docs: XmlNode[] = [];
  try {
    docs = parseXml(received.map((r) => r.msg.slice(1)));
  } catch (err) {
    t.fail(`every record rsyslog stored parses as XML: ${(err as Error).message}; record sizes: ${received.map((r) => bytes(r.msg)).join(', ')}`);
  }
  t.equal(docs.length, received.length, 'every record rsyslog stored parses as XML');
  const transfers = docs.filter((d) => eventId(d) === '110104');
  t.ok(transfers.length >= 2, `the event arrived as ${transfers.length} Instances Transferred records`);
  const at = transfers.flatMap((d) => sopClasses(d));
  t.ok(at.every((s) => s.uid === SECONDARY_CAPTURE && s.count === s.instances.length), 'each record counts its own instances');
  const union = at.flatMap((s) => s.instances);
  t.equal(union.length, sent.length, 'no instance listed twice');
  t.same([...new Set(union)].sort(), [...sent].sort(), 'the union of the Instance UIDs is exactly the set sent');
  const file = readFileSync(join(dir, 'audit.log'), 'utf8').split('\n').filter((l) => l.includes('csd_code="110104"'));
  t.ok(file.length === 1 && file[0].includes('NumberOfInstances="300"'), 'the audit file keeps the event as one record');
  t.notMatch(log.join('\n'), /audit:/, 'no audit sink errors');

  // The default limit is what this rsyslog (default maxMessageSize) keeps: a record of exactly that
  // many octets arrives whole, one octet more is cut.
  const sink = new TlsSyslogSink({ host: COLLECTOR, port: collectorPort, serverName: COLLECTOR_NAME, ca: readFileSync(pki.trust, 'utf8'), cert: readFileSync(gwClient.cert, 'utf8'), key: readFileSync(gwClient.key, 'utf8') }, () => undefined);
  const sized = (n: number, tag: string) => {
    const line = formatSyslog(`<r t="${tag}"/>`, new Date());
    return formatSyslog(`<r t="${tag}" pad="${'p'.repeat(n - bytes(line) - 7)}"/>`, new Date());
  };
  const exact = sized(DEFAULT_MESSAGE_BYTES, 'exact');
  const over = sized(DEFAULT_MESSAGE_BYTES + 1, 'over');
  t.same([bytes(exact), bytes(over)], [DEFAULT_MESSAGE_BYTES, DEFAULT_MESSAGE_BYTES + 1], 'test records of the intended sizes');
  sink.write(exact);
  sink.write(over);
  sink.write(formatSyslog('<r t="last"/>', new Date()));
  await sink.close();
  await collector.waitFor('the last test record', (r) => r.msg.includes('t="last"'), 1, 30_000);
  const msgOf = (line: string) => line.slice(line.indexOf('\uFEFF'));
  const got = (tag: string) => collector.records().find((r) => r.msg.includes(`t="${tag}"`))?.msg;
  t.equal(got('exact'), msgOf(exact), `a record of ${DEFAULT_MESSAGE_BYTES} octets arrives whole`);
  t.not(got('over'), msgOf(over), `a record of ${DEFAULT_MESSAGE_BYTES + 1} octets does not`);
});
