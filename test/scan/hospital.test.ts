/**
 * The scanner against a simulated hospital network of real servers (fixtures/hospital.ts): every
 * service classified, every finding raised and no other, the tarpit does not stall the scan, and the
 * scan left no trace in the data stores: storescp received no object, the python3-hl7 receivers
 * stored no message (while a real message sent by mllp_send is stored, proving they do store).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { runScan } from '../../src/scan/run.ts';
import { FINDING_IDS, type ScanReport } from '../../src/scan/types.ts';
import { tempDir } from '../helpers/tmp.ts';
import { which } from '../protocols/fixtures/helpers.ts';
import { EXPECTED, SCAN_PORTS, missingBinaries, startHospital } from './fixtures/hospital.ts';

const missing = missingBinaries();
if (missing.length > 0) {
  if (process.env.CI) t.fail(`real peers missing in CI: ${missing.join(', ')}`);
  else t.skip(`real peers missing: ${missing.join(', ')}`, () => {});
} else {
  const dir = tempDir(t, 'wardgate-hospital-');
  const hospital = await startHospital(join(dir, 'net'));
  t.teardown(() => hospital.stop());

  // The rate limit has its own test (rate-limit.test.ts); here a high rate keeps queueing time out of
  // the per-port durations, so they measure how long each peer kept the scanner busy.
  const timeoutMs = 1500;
  const started = Date.now();
  const result = await runScan({ targets: ['127.20.0.0/26'], ports: SCAN_PORTS, trust: [hospital.trustPem], format: 'json', out: join(dir, 'report.json'), timeoutMs, rate: 1000 });
  const wall = Date.now() - started;
  const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as ScanReport;

  t.test('every open port is reported once and classified', async (t) => {
    t.equal(report.services.length, EXPECTED.length, 'one entry per open port, nothing else');
    for (const e of EXPECTED) {
      const s = report.services.filter((x) => x.address === e.address && x.port === e.port);
      t.equal(s.length, 1, `${e.address}:${e.port} (${e.what}) reported once`);
      if (!s[0]) continue;
      t.equal(s[0].protocol, e.protocol, `${e.what}: protocol ${e.protocol}`);
      t.equal(s[0].tls, e.tls, `${e.what}: tls ${e.tls}`);
    }
  });

  t.test('every finding raised, and no false finding', async (t) => {
    for (const e of EXPECTED) {
      const s = report.services.find((x) => x.address === e.address && x.port === e.port);
      t.same(s?.findings.map((f) => f.id).sort(), [...e.findings].sort(), `${e.what}: ${e.findings.join(', ') || 'no findings'}`);
    }
    const raised = new Set(report.services.flatMap((s) => s.findings.map((f) => f.id)));
    for (const id of FINDING_IDS) t.ok(raised.has(id), `${id} raised somewhere in the network`);
  });

  t.test('details the findings rest on', async (t) => {
    const at = (a: string) => report.services.find((s) => s.address === a)!;
    t.equal(at('127.20.0.10').dicom?.implementationVersionName, 'OFFIS_DCMTK_367', 'implementation version name from the A-ASSOCIATE-AC');
    t.equal(at('127.20.0.10').dicom?.implementationClassUid, '1.2.276.0.7230010.3.0.3.6.7');
    t.match(at('127.20.0.22').dicom?.rejection ?? '', /called AE title not recognized/, 'dcmqrscp rejects the unknown called AE title');
    t.equal(at('127.20.0.22').dicom?.implementationClassUid, undefined, 'an A-ASSOCIATE-RJ carries no implementation UID');
    t.equal(at('127.20.0.17').tlsVersion, 'TLSv1.0', 'TLS 1.0 handshake completed and recorded');
    t.equal(at('127.20.0.14').certificate?.keyBits, 1024);
    t.match(at('127.20.0.15').certificate?.signatureAlgorithm, /SHA1/i, 'SHA-1 signature algorithm recorded');
    t.match(at('127.20.0.18').findings.find((f) => f.id === 'tls-weak-cipher')?.detail ?? '', /anon|NULL/, 'the weak suite is named');
    t.equal(at('127.20.0.30').hl7?.ackCode, 'AR', 'the receiver refused the probe with AR');
    t.match(at('127.20.0.23').note ?? '', /client certificate/, 'a mutual-TLS port is reported as such, with its certificate');
    t.same(at('127.20.0.23').certificate?.sans, ['IP:127.20.0.23']);
    const c = at('127.20.0.11').certificate!;
    for (const key of ['subject', 'issuer', 'notAfter', 'keyType', 'keyBits', 'signatureAlgorithm', 'sans'] as const) t.ok(c[key] !== undefined, `certificate.${key} present`);
    t.same(c.sans, ['IP:127.20.0.11']);
    for (const s of report.services) for (const f of s.findings) t.match(f.recommendation, /wardgate|certbot/, `${f.id} recommends a concrete command`);
  });

  t.test('the tarpit does not stall the scan', async (t) => {
    const tarpit = report.services.find((s) => s.address === '127.20.0.41')!;
    t.ok(tarpit.durationMs <= 3 * timeoutMs + 1500, `tarpit port done in ${tarpit.durationMs} ms (3 timeouts: TLS, DICOM, HL7)`);
    t.ok(wall < 3 * timeoutMs + 8000, `whole scan took ${wall} ms: the tarpit delayed nothing else`);
    const others = report.services.filter((s) => s.protocol !== 'other');
    for (const s of others) t.ok(s.durationMs < 2 * timeoutMs, `${s.address}:${s.port} ${s.protocol} done in ${s.durationMs} ms`);
  });

  t.test('the scan left nothing behind', async (t) => {
    t.same(hospital.storedObjects(), [], 'storescp received no object');
    t.same(hospital.storedHl7(), [], 'the HL7 receivers stored no message');
    const mllpSend = which('mllp_send');
    if (mllpSend) {
      // Positive control: the same receiver stores a real ADT^A01 sent by python3-hl7's mllp_send.
      const adt = join(dir, 'adt.hl7');
      const msg = ['MSH|^~\\&|HIS|KLINIKUM|LIS|KLINIKUM|20261126120000||ADT^A01^ADT_A01|MSG0001|P|2.5', 'PID|1||123456^^^KLINIKUM^MR||Mustermann^Max'].join('\r');
      writeFileSync(adt, `${msg}\r`);
      const r = spawnSync(mllpSend, ['--loose', '--file', adt, '--port', '2575', '127.20.0.30'], { encoding: 'utf8', timeout: 10000 });
      t.match(r.stdout, /MSA\|AA/, 'the receiver acknowledged a real message with AA');
      t.equal(hospital.storedHl7().length, 1, 'and stored exactly that one message');
    }
  });

  t.test('the scan closed what it opened and counted its connections', async (t) => {
    t.equal(result.scan.hostsScanned, 64, '127.20.0.0/26 is 64 hosts');
    t.ok(result.scan.connections >= 64 * SCAN_PORTS.length, `${result.scan.connections} connections counted`);
  });
}
