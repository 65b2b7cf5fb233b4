/**
 * A device that chooses what the reports say about it: a real TLS server on 127.53.0.0/16 presents an
 * openssl-made certificate whose names carry spreadsheet formulas, markup, a bidi override and a line
 * separator; the real scanner scans it and each report format is checked as the admin's program
 * would read it (spreadsheet, browser, terminal, JSON parser).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import t, { type Test } from 'tap';
import { renderCsv } from '../../src/scan/reports/csv.ts';
import { runScan } from '../../src/scan/run.ts';
import { tempDir } from '../helpers/tmp.ts';
import { sampleReport } from './fixtures/sample-report.ts';

const RLO = '\u202e';
const LS = '\u2028';
const dir = tempDir(t, 'wardgate-hostile-report-');
// openssl -subj: "/" separates attributes, "+" starts a multi-valued RDN; everything else is the device's choice.
const subj = `/CN=x;"=2*3;<img src=x onerror=alert(1)>/O=a;=HYPERLINK("e";"c")${RLO}gnp.exe/OU=-1${LS}@SUM(1)`;
execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-utf8', '-keyout', join(dir, 'dev.key'), '-out', join(dir, 'dev.pem'), '-days', '30', '-subj', subj], { stdio: 'pipe' });

const sockets = new Set<net.Socket>();
const server = tls.createServer({ key: readFileSync(join(dir, 'dev.key')), cert: readFileSync(join(dir, 'dev.pem')) }, (s) => {
  sockets.add(s);
  s.on('error', () => {});
  s.on('close', () => sockets.delete(s));
  s.end();
});
server.on('tlsClientError', () => {});

t.before(() => new Promise<void>((resolve, reject) => {
  server.once('error', reject);
  server.listen(39530, '127.53.0.1', () => resolve());
}));
t.teardown(() => {
  for (const s of sockets) s.destroy();
  server.close();
});

async function scan(t: Test, format: 'csv' | 'html' | 'text' | 'json' | 'ndjson'): Promise<string> {
  const out = join(dir, `report.${format}`);
  const r = await runScan({ targets: ['127.53.0.1'], ports: [39530], timeoutMs: 1500, rate: 1000, format, out });
  t.match(r.services[0]?.certificate?.subject ?? '', /HYPERLINK/, 'the scanner read the hostile certificate');
  return readFileSync(out, 'utf8');
}

/** RFC 4180 rows (what a comma-separated import sees). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { cell += '"'; i++; } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(cell); cell = ''; } else if (c === '\r' && text[i + 1] === '\n') { row.push(cell); rows.push(row); row = []; cell = ''; i++; } else cell += c;
  }
  return rows;
}

/**
 * The cells Excel makes of one line where the list separator is ";" (German Windows): the line is cut
 * at every ";" outside a cell that opens with a quote; a cell that opens with a quote runs to the
 * closing quote and anything after it is appended.
 */
function semicolonCells(line: string): string[] {
  const cells: string[] = [];
  let i = 0;
  while (i <= line.length) {
    let cell = '';
    if (line[i] === '"') {
      i++;
      while (i < line.length) {
        if (line[i] === '"' && line[i + 1] === '"') { cell += '"'; i += 2; } else if (line[i] === '"') { i++; break; } else cell += line[i++];
      }
    }
    while (i < line.length && line[i] !== ';') cell += line[i++];
    cells.push(cell);
    i++;
  }
  return cells;
}

const FORMULA = /^\s*[=+\-@]/;
/** Diagnostics in ASCII: a raw U+2028 or bidi override in the TAP stream garbles the test output. */
const ascii = (s: string) => s.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

t.test('CSV: no cell a spreadsheet opens starts a formula, with "," or ";" as separator', async (t) => {
  const csv = await scan(t, 'csv');
  const rows = parseCsv(csv);
  t.ok(rows.length >= 2, 'header and the device');
  for (const r of rows) t.equal(r.length, 13, 'every row has the 13 columns: no device character added a row or cell');
  const subject = rows[1][6];
  t.match(subject, /HYPERLINK/, 'the subject is in the certSubject column');
  t.same(rows.flat().filter((c) => FORMULA.test(c)).map(ascii), [], 'comma import: no cell starts a formula');
  // Found in review: with ";" as separator, "a;=HYPERLINK(...)" in a certificate name became a cell of its own.
  const cells = csv.trimEnd().split('\r\n').flatMap(semicolonCells);
  t.same(cells.filter((c) => FORMULA.test(c)).map(ascii), [], 'semicolon import: no cell starts a formula');
  t.notOk(csv.includes(RLO) || csv.includes(LS), 'no raw bidi override or line separator');
  t.ok(subject.includes('\\u202egnp.exe'), 'the override is shown as an escape');
});

t.test('CSV: NUL and line breaks in a field neither cut nor split the row', async (t) => {
  const { services } = sampleReport();
  const s = services.find((x) => x.certificate)!;
  const csv = renderCsv([{ ...s, certificate: { ...s.certificate!, subject: 'CN=a\u0000\r\n=1+1\t"b' } }]);
  t.notOk(/\u0000/.test(csv), 'no NUL');
  const rows = parseCsv(csv);
  t.equal(rows.length, 1 + Math.max(1, s.findings.length), 'one row per finding, no extra row');
  t.equal(ascii(rows[1][6]), 'CN=a\\x00\\x0d\\x0a=1+1\\x09"b', 'controls shown as escapes, quote kept');
  const own = { id: 'cert-expired' as const, severity: 'high' as const, title: 't', recommendation: 'Renew: `wardgate issue`; devices without ACME; then check' };
  t.equal(parseCsv(renderCsv([{ ...s, findings: [own] }]))[1][12], own.recommendation, 'the scanner\'s own "; " text is left as written');
});

t.test('HTML: device text escaped, no raw bidi override, scripts forbidden by CSP', async (t) => {
  const html = await scan(t, 'html');
  t.notMatch(html, /<img/i, 'markup from the certificate is escaped');
  t.match(html, /&lt;img src=x onerror=alert\(1\)\\&gt;/, 'and shown as text');
  t.notOk(html.includes(RLO) || html.includes(LS), 'no raw bidi override or line separator');
  t.ok(html.includes('\\u202egnp.exe'), 'the override is shown as an escape');
  const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(html)?.[1] ?? '';
  t.match(csp, /default-src 'none'/, 'CSP meta: nothing loads or runs unless allowed');
  t.notMatch(csp, /script-src|unsafe-eval/, 'CSP allows no script');
  t.notMatch(html, /<script|javascript:|href=/i, 'no script and no link');
});

t.test('text and JSON: fine already, checked against the same device', async (t) => {
  const text = await scan(t, 'text');
  t.notOk(text.includes(RLO) || text.includes(LS), 'text: no raw bidi override or line separator');
  const json = await scan(t, 'json');
  t.notOk(json.includes(RLO) || json.includes(LS), 'JSON: escaped');
  t.ok(JSON.parse(json).services[0].certificate.subject.includes(`${RLO}gnp.exe`), 'JSON: parses back to what the device sent');
  const nd = (await scan(t, 'ndjson')).trimEnd().split('\n');
  t.equal(nd.length, 2, 'ndjson: one service line and one summary line');
  for (const line of nd) t.doesNotThrow(() => JSON.parse(line));
});
