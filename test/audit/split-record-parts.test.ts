/**
 * An Instances Transferred event split to fit a collector's limit (fit.ts) says which records belong
 * together: each SOP class object of each record carries ParticipantObjectDetail "Record Part"
 * ("k of n") and "Record Set" (the same for every part of one event), before ParticipantObjectDescription
 * as the PS3.15 A.5.1 schema orders them, and every record still fits the limit. Read with a real XML
 * parser, and through a real rsyslog with its default 8k maxMessageSize.
 */
import { readFileSync } from 'node:fs';
import t, { type Test } from 'tap';
import {
  Auditor, type AuditSink, DEFAULT_MESSAGE_BYTES, MIN_MESSAGE_BYTES, TlsSyslogSink, instancesTransferred,
} from '../../src/audit/index.ts';
import { tempDir } from '../helpers/tmp.ts';
import { freeLoopbackPort, peerOption } from '../proxy/fixtures/peers.ts';
import { proxyPki } from '../proxy/fixtures/pki.ts';
import { RsyslogCollector } from './fixtures/rsyslog-collector.ts';
import { type XmlNode, child, parseXml } from './fixtures/xml.ts';

const COLLECTOR = '127.30.115.2';
const COLLECTOR_NAME = 'audit.klinikum.internal';
const CT = '1.2.840.10008.5.1.4.1.1.2';
// The ParticipantObjectDetail types, as documented in the README.
const PART_DETAIL = 'Record Part';
const SET_DETAIL = 'Record Set';
const MR = '1.2.840.10008.5.1.4.1.1.4';
const uids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `1.2.826.0.1.3680043.10.1234.${prefix}.20261126093000.${i + 1}`);
const bytes = (s: string) => Buffer.byteLength(s, 'utf8');
const xmlOf = (line: string) => line.slice(line.indexOf('\uFEFF') + 1);

class MemorySink implements AuditSink {
  readonly records: string[] = [];
  readonly dropped = 0;
  constructor(readonly maxMessageBytes?: number) {}
  write(message: string): void { this.records.push(message); }
  async close(): Promise<void> {}
}

/** Per SOP class object of a record: its detail values by type, decoded, and its child element names in order. */
function objects(doc: XmlNode) {
  return child(doc, 'ParticipantObjectIdentification').filter((o) => child(o, 'ParticipantObjectDescription').length > 0).map((o) => ({
    details: Object.fromEntries(child(o, 'ParticipantObjectDetail').map((d) => [d.attrs.type, Buffer.from(d.attrs.value, 'base64').toString('utf8')])),
    order: o.children.map((c) => c.name),
  }));
}

/** Check the records of one split event: marked k of n in order, one set, schema order, within `limit`. */
function checkParts(t: Test, docs: XmlNode[], lines: string[], limit: number, label: string): string {
  const n = docs.length;
  const marks = docs.map((d) => objects(d));
  t.ok(marks.every((objs) => objs.length > 0), `${label}: every record has a SOP class object`);
  t.same(marks.map((objs) => [...new Set(objs.map((o) => o.details[PART_DETAIL]))]), docs.map((_, i) => [`${i + 1} of ${n}`]), `${label}: records marked 1 of ${n} .. ${n} of ${n}, on each SOP class object`);
  const sets = new Set(marks.flat().map((o) => o.details[SET_DETAIL]));
  t.ok(sets.size === 1 && /^[0-9a-f]{16}$/.test([...sets][0]), `${label}: one Record Set for all parts (${[...sets].join(', ')})`);
  t.ok(marks.flat().every((o) => o.order.lastIndexOf('ParticipantObjectDetail') < o.order.indexOf('ParticipantObjectDescription')), `${label}: ParticipantObjectDetail before ParticipantObjectDescription (PS3.15 A.5.1)`);
  t.ok(lines.every((l) => bytes(l) <= limit), `${label}: every record within ${limit} octets (largest ${Math.max(...lines.map(bytes))})`);
  return [...sets][0];
}

t.test('split Instances Transferred records are marked part k of n of one set, within the limit', peerOption('python3'), async (t) => {
  const sink = new MemorySink(8192);
  const auditor = new Auditor([sink], { sourceId: 'gw1.klinikum.internal' });
  const src = { userId: 'CT1', address: '10.20.0.5', userName: 'CN=ct1.rad.klinikum.internal,O=Klinikum' };
  const dst = { userId: 'PACS', address: '10.20.0.1' };
  auditor.record(instancesTransferred(auditor.identity, src, dst, { bySopClass: new Map([[CT, uids('1', 1500)], [MR, uids('2', 40)]]) }, 0));
  const first = sink.records.splice(0);
  t.ok(first.length > 2, `split into ${first.length} records`);
  const set1 = checkParts(t, parseXml(first.map(xmlOf)), first, 8192, 'CT+MR');

  auditor.record(instancesTransferred(auditor.identity, src, dst, { bySopClass: new Map([[CT, uids('3', 600)]]) }, 0));
  const second = sink.records.splice(0);
  const set2 = checkParts(t, parseXml(second.map(xmlOf)), second, 8192, 'second event');
  t.not(set2, set1, 'another event has another Record Set');

  auditor.record(instancesTransferred(auditor.identity, src, dst, { bySopClass: new Map([[CT, uids('4', 3)]]) }, 0));
  const whole = parseXml(sink.records.splice(0).map(xmlOf));
  t.equal(whole.length, 1, 'a small event is one record');
  t.same(objects(whole[0]).map((o) => o.details), [{}], 'and carries no part marker');

  // The smallest limit and text long enough to be cut: parts stay marked, and within the limit.
  const small = new MemorySink(MIN_MESSAGE_BYTES);
  const long = (what: string) => `${what}-${'x'.repeat(20_000)}`;
  new Auditor([small], { sourceId: 'gw1' }).record(instancesTransferred(auditor.identity, { userId: long('ae'), userName: long('subject') }, dst, { bySopClass: new Map([[CT, uids('5', 200)]]) }, 0));
  checkParts(t, parseXml(small.records.map(xmlOf)), small.records, MIN_MESSAGE_BYTES, `${MIN_MESSAGE_BYTES}-octet limit`);
});

t.test('through rsyslog with its default maxMessageSize: every part arrives whole, markers readable', peerOption('rsyslogd', 'python3'), async (t) => {
  const pki = await proxyPki(t);
  const dir = tempDir(t);
  const collectorCert = await pki.issue('collector', [COLLECTOR_NAME]);
  const client = await pki.issue('gw-syslog-client', ['gw.klinikum.internal']);
  const port = await freeLoopbackPort();
  const collector = new RsyslogCollector(dir, COLLECTOR, port, { ca: pki.trust, cert: collectorCert.cert, key: collectorCert.key, authMode: 'x509/certvalid', maxMessageSize: null });
  t.teardown(() => collector.stop('SIGKILL'));
  await collector.start();
  const sink = new TlsSyslogSink({ host: COLLECTOR, port, serverName: COLLECTOR_NAME, ca: readFileSync(pki.trust, 'utf8'), cert: readFileSync(client.cert, 'utf8'), key: readFileSync(client.key, 'utf8') }, () => undefined);
  // The same limit in memory: the Auditor fits once per limit, so it holds exactly what was sent.
  const sent = new MemorySink(DEFAULT_MESSAGE_BYTES);
  const auditor = new Auditor([sink, sent], { sourceId: 'gw1.klinikum.internal' });
  auditor.record(instancesTransferred(auditor.identity, { userId: 'CT1', address: '10.20.0.5' }, { userId: 'PACS', address: '10.20.0.1' }, { bySopClass: new Map([[CT, uids('6', 500)]]) }, 0));
  await auditor.close();
  const stored = await collector.waitFor('every part', (r) => r.msg.includes('csd_code="110104"'), sent.records.length, 30_000);
  t.ok(stored.length >= 2, `${stored.length} records at rsyslog`);
  t.same(stored.map((r) => r.msg), sent.records.map((l) => `\uFEFF${xmlOf(l)}`), 'rsyslog stored every part whole, in order');
  const docs = parseXml(stored.map((r) => r.msg.slice(1)));
  checkParts(t, docs, sent.records, DEFAULT_MESSAGE_BYTES, 'rsyslog');
  t.equal(docs.flatMap((d) => child(child(child(d, 'ParticipantObjectIdentification')[0], 'ParticipantObjectDescription')[0], 'SOPClass')).reduce((s, c) => s + Number(c.attrs.NumberOfInstances), 0), 500, 'every instance once');
});
