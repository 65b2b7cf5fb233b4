/** Report formats: the JSON contract, CSV quoting, text, NDJSON and the baseline diff; and the CLI end to end. */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { diffBaseline, loadBaseline } from '../../src/scan/reports/baseline.ts';
import { renderCsv } from '../../src/scan/reports/csv.ts';
import { ndjsonService, ndjsonSummary, renderJson } from '../../src/scan/reports/json.ts';
import { renderText } from '../../src/scan/reports/text.ts';
import { isWardgateError } from '../../src/errors.ts';
import { tempDir } from '../helpers/tmp.ts';
import { sampleReport } from './fixtures/sample-report.ts';

const { scan, services, baseline } = sampleReport();

t.test('JSON contract of issue 5', async (t) => {
  const doc = JSON.parse(renderJson(scan, services));
  t.same(Object.keys(doc), ['scan', 'services']);
  t.equal(doc.services.length, services.length, 'one entry per open port');
  for (const s of doc.services) {
    t.same(Object.keys(s).slice(0, 4), ['address', 'port', 'protocol', 'tls'], 'contract keys first');
    t.ok(['dicom', 'hl7', 'other'].includes(s.protocol));
    t.type(s.tls, 'boolean');
    if (s.tls) t.type(s.tlsVersion, 'string');
    for (const f of s.findings) t.same(Object.keys(f).slice(0, 4), ['id', 'severity', 'title', 'recommendation']);
    if (s.certificate) for (const k of ['subject', 'issuer', 'notAfter', 'keyType', 'keyBits', 'signatureAlgorithm', 'sans']) t.ok(k in s.certificate, `certificate.${k}`);
  }
});

t.test('CSV (RFC 4180) and formula injection', async (t) => {
  const csv = renderCsv(services);
  const lines = csv.trimEnd().split('\r\n');
  t.match(lines[0], /^address,hostname,port,protocol,tls,/);
  t.ok(lines.length > services.length, 'one row per finding');
  t.match(csv, /"CN=ct1 <script>alert\(1\)<\/script>"|CN=ct1 <script>alert\(1\)<\/script>/);
  const evil = renderCsv([{ ...services[4], certificate: { ...services[4].certificate!, subject: '=HYPERLINK("http://x","y"), CN=a' } }]);
  t.match(evil, /"'=HYPERLINK\(""http:\/\/x"",""y""\), CN=a"/, 'formula neutralised and quotes doubled');
});

t.test('text and NDJSON', async (t) => {
  const text = renderText(scan, services, 'de', diffBaseline(baseline, services, new Set(['10.20.0.14'])));
  t.match(text, /10\.20\.0\.10:104 {2}dicom/);
  t.match(text, /\[hoch\] plaintext-dicom: DICOM unverschlüsselt/);
  t.match(text, /- 10\.20\.0\.14:104 plaintext-dicom/, 'fixed finding listed');
  const lines = [...services.map(ndjsonService), ndjsonSummary(scan)].join('').trimEnd().split('\n').map((l) => JSON.parse(l));
  t.equal(lines.filter((l) => l.type === 'service').length, services.length);
  t.equal(lines.at(-1).type, 'scan');
});

t.test('baseline diff', async (t) => {
  const dir = tempDir(t);
  const f = join(dir, 'previous.json');
  writeFileSync(f, JSON.stringify(baseline));
  const diff = diffBaseline(loadBaseline(f), services, new Set([...services.map((s) => s.address), '10.20.0.14']));
  t.same(diff.new.map((e) => `${e.address}:${e.port}:${e.finding.id}`), ['10.20.0.10:104:dicom-any-ae-accepted']);
  t.same(diff.fixed.map((e) => `${e.address}:${e.port}:${e.finding.id}`), ['10.20.0.14:104:plaintext-dicom']);
  const notScanned = diffBaseline(baseline, services, new Set(services.map((s) => s.address)));
  t.same(notScanned.fixed, [], 'a host not scanned this time proves nothing');
  writeFileSync(f, '{"services": 1}');
  try {
    loadBaseline(f);
    t.fail('accepted');
  } catch (err) {
    t.ok(isWardgateError(err, 'SCAN_OPTION_INVALID'), (err as Error).message);
  }
});

t.test('CLI: ndjson on stdout, German, exclude, typed errors', async (t) => {
  const server = net.createServer((s) => s.destroy());
  await new Promise<void>((r) => server.listen(39200, '127.20.0.60', r));
  t.teardown(() => new Promise((r) => server.close(r)));
  const cli = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'test/scan/fixtures/scan-cli.ts', 'scan', ...args], { encoding: 'utf8', timeout: 60000 });
  const r = cli(['127.20.0.60-61', '--ports', '39200', '--format', 'ndjson', '--lang', 'de', '--timeout', '500']);
  t.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  t.same(lines.filter((l) => l.type === 'service').map((l) => [l.address, l.port, l.protocol]), [['127.20.0.60', 39200, 'other']]);
  t.equal(lines.at(-1).scan.hostsScanned, 2);
  t.equal(lines.at(-1).scan.lang, 'de');
  const ex = cli(['127.20.0.60-61', '--ports', '39200', '--exclude', '127.20.0.60', '--format', 'json', '--timeout', '500']);
  t.same(JSON.parse(ex.stdout).services, [], 'excluded device never contacted');
  const bad = cli(['127.20.0.999']);
  t.equal(bad.status, 1);
  t.match(bad.stderr, /^wardgate: error \[SCAN_TARGET_INVALID\]: /, 'one clear line');
  const badRate = cli(['127.20.0.60', '--rate', '0']);
  t.match(badRate.stderr, /SCAN_OPTION_INVALID/);
  const badAe = cli(['127.20.0.60', '--called-ae', 'A-TITLE-LONGER-THAN-16']);
  t.match(badAe.stderr, /SCAN_OPTION_INVALID.*called-ae/, 'an invalid AE title is refused before any packet');
  const dir = tempDir(t);
  const previous = join(dir, 'previous.json');
  const old = (address: string) => ({ address, port: 104, protocol: 'dicom', tls: false, findings: [{ id: 'plaintext-dicom', severity: 'high', title: 't', recommendation: 'r' }] });
  writeFileSync(previous, JSON.stringify({ scan: { startedAt: '2026-11-19T00:00:00.000Z' }, services: [old('127.20.0.61'), old('127.20.0.63')] }));
  const withBaseline = cli(['127.20.0.60-61', '--ports', '39200,104', '--format', 'json', '--timeout', '500', '--baseline', previous]);
  t.equal(withBaseline.status, 0, withBaseline.stderr);
  const b = JSON.parse(withBaseline.stdout).baseline;
  t.same(b.fixed.map((e: { address: string }) => e.address), ['127.20.0.61'], 'port 104 on a rescanned host is closed now: fixed; an unscanned host is not');
  t.same(b.new, [], 'nothing new');
  const out = join(dir, 'r.html');
  const html = cli(['127.20.0.60', '--ports', '39200', '--format', 'html', '--out', out, '--timeout', '500']);
  t.equal(html.status, 0, html.stderr);
  t.match(readFileSync(out, 'utf8'), /<svg id="severity-chart"/);
});
