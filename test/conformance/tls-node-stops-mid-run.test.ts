/**
 * `conformance tls-node` against a product that stops answering in the middle of a run: a real TLS
 * server (node:tls, OpenSSL) that stops listening after N connections, one that starts resetting every
 * connection, and one that starts accepting connections without ever answering, each right after it
 * accepted the valid client certificate. Verdicts already reached stay; checks whose probes could not
 * run are inconclusive with the reason; the report is still written and the CLI says the run was
 * incomplete. Endpoints listen on 127.30.2.x.
 *
 * A violation proven before the stop stays a failure, also inside the group of probes the stop cut
 * short (TLS 1.0 accepted, then no TLS 1.1 probe; a forbidden suite chosen, then no next offer): the
 * row fails, marked as resting on partial evidence, and the CLI exits 3, not 4. Those endpoints listen
 * on 127.41.x.y.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import t from 'tap';
import { reportHtml, runTlsNode, type Report } from '../../src/conformance/index.ts';
import { tempDir } from '../helpers/tmp.ts';
import { cliCommand } from './fixtures/acme-kit.ts';
import { makePki, type Pki } from './fixtures/pki.ts';

type Mode = 'serve' | 'refuse' | 'reset' | 'hang';

/**
 * A mutual-TLS node: node:tls with the EC node certificate, requiring a client certificate from the
 * hospital root. A TCP front hands each connection to it while `mode` is 'serve'; 'refuse' closes the
 * listening socket (ECONNREFUSED from then on), 'reset' resets each new connection, 'hang' holds each
 * new connection open and silent.
 */
async function node(t: { teardown: (fn: () => void) => void }, host: string, pki: Pki, extra: tls.TlsOptions = {}) {
  const read = (f: string) => readFileSync(f);
  const server = tls.createServer({
    key: read(pki.nodeEc.key), cert: read(pki.nodeEc.chain), ca: read(pki.root),
    requestCert: true, rejectUnauthorized: true, ...extra,
  });
  server.on('tlsClientError', () => {});
  const held = new Set<net.Socket>();
  const state = { mode: 'serve' as Mode, connections: 0, onConnection: (_n: number) => {} };
  const front = net.createServer((s) => {
    s.on('error', () => {});
    held.add(s);
    s.on('close', () => held.delete(s));
    if (state.mode === 'reset') return void s.resetAndDestroy();
    if (state.mode === 'hang') return;
    state.onConnection(++state.connections);
    server.emit('connection', s);
  });
  await new Promise<void>((resolve) => front.listen(0, host, resolve));
  const port = (front.address() as net.AddressInfo).port;
  const stopListening = () => { state.mode = 'refuse'; front.close(); };
  t.teardown(() => { for (const s of held) s.destroy(); front.close(); server.close(); });
  return { port, state, server, stopListening };
}

function inputs(pki: Pki, host: string, port: number) {
  const read = (f: string) => readFileSync(f, 'utf8');
  return {
    endpoint: { host, port }, caPem: read(pki.root),
    clientCaCertPem: read(pki.inter), clientCaKeyPem: read(pki.interKey),
    revokedCertPem: read(pki.revokedClient.chain), revokedKeyPem: read(pki.revokedClient.key),
    timeoutMs: 1500, settleMs: 100,
  };
}

function row(report: Report, check: string) {
  const r = report.rows.find((x) => x.check === check);
  if (!r) throw new Error(`${check} not in the report`);
  return r;
}

/** Runs the kit; a run that throws is reported as the test's failure instead of a crash. */
async function run(t: { fail: (m: string) => void }, i: Parameters<typeof runTlsNode>[0]): Promise<Report | undefined> {
  const r = await runTlsNode(i).then((x) => x, (err: Error & { code?: string }) => err);
  if (r instanceof Error) return void t.fail(`the run ended with ${r.code ?? ''} ${r.message}`);
  return r.report;
}

const VERSION_CHECKS = ['tls-node:legacy-versions-refused', 'tls-node:tls12-supported', 'tls-node:tls13-supported', 'tls-node:chain-to-ca', 'tls-node:server-name-match',
  'tls-node:server-key-strength', 'tls-node:server-cert-validity', 'tls-node:revocation-pointers', 'tls-node:requests-client-cert', 'tls-node:secure-renegotiation', 'tls-node:extended-master-secret'];
const CLIENT_AUTH_REFUSALS = ['tls-node:refuses-foreign-client-cert', 'tls-node:refuses-expired-client-cert', 'tls-node:refuses-revoked-client-cert'];

t.test('a node that stops accepting connections during the suite enumeration: earlier verdicts kept, the rest inconclusive, report and exit 4 from the CLI', async (t) => {
  const host = '127.30.2.1';
  const dir = tempDir(t);
  const pki = await makePki(dir, host);
  const n = await node(t, host, pki);
  // 4 raw ClientHellos, 2 TLS 1.3 handshakes, then the suite enumeration: the 8th connection is its second offer.
  n.state.onConnection = (count) => { if (count === 8) n.stopListening(); };
  const report = await run(t, inputs(pki, host, n.port));
  if (!report) return;
  t.match(report.incomplete, /^the endpoint stopped accepting connections after probe "TLSv1\.2 suite enumeration, offer 2": ECONNREFUSED$/, 'the report says why it is incomplete');
  for (const check of VERSION_CHECKS) t.equal(row(report, check).status, 'pass', `${check} keeps its verdict: ${row(report, check).evidence}`);
  for (const check of ['tls-node:forbidden-ciphers-refused', 'tls-node:recommended-cipher', 'tls-node:discouraged-ciphers-refused', 'tls-node:accepts-valid-client-cert', ...CLIENT_AUTH_REFUSALS]) {
    const r = row(report, check);
    t.equal(r.status, 'inconclusive', `${check}: ${r.evidence}`);
    t.match(r.evidence, /^the endpoint stopped accepting connections after probe "TLSv1\.2 suite enumeration, offer 2": ECONNREFUSED; the probes this check needs \(.+\) did not run$/);
  }
  t.equal(row(report, 'tls-node:rsa-baseline').status, 'not-applicable', 'an option not claimed stays not-applicable');
  t.ok(report.conformant, 'no SHALL failed in what was judged');

  // The CLI, as a vendor runs it: the report is written, the summary and the exit status say incomplete.
  const n2 = await node(t, host, pki);
  n2.state.onConnection = (count) => { if (count === 8) n2.stopListening(); };
  const out = join(dir, 'report.html');
  const [cmd, ...pre] = cliCommand();
  const child = spawn(cmd, [...pre, 'conformance', 'tls-node', `${host}:${n2.port}`, '--ca', pki.root, '--client-ca-cert', pki.inter, '--client-ca-key', pki.interKey,
    '--timeout', '1500', '--settle', '100', '--format', 'html', '--out', out], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const code = await new Promise((resolve) => child.once('close', resolve));
  t.equal(code, 4, `exit 4: incomplete, no SHALL failed (${stderr.trim()})`);
  t.match(stderr, /tls-node 127\.30\.2\.1:\d+: 11 pass, 0 fail, 1 not applicable, 8 inconclusive/);
  t.match(stderr, /\nincomplete run: the endpoint stopped accepting connections after probe "TLSv1\.2 suite enumeration, offer 2": ECONNREFUSED\n/);
  const page = readFileSync(out, 'utf8');
  t.match(page, /<p class="incomplete"><strong>Incomplete run:<\/strong> the endpoint stopped accepting connections after probe &quot;TLSv1\.2 suite enumeration, offer 2&quot;: ECONNREFUSED/);
  t.match(page, /<tr class="pass" id="ICM-TLS-002">/, 'the verdicts reached are in the HTML report');
});

for (const mode of ['reset', 'hang'] as const) {
  t.test(`a node that starts to ${mode === 'reset' ? 'reset every connection' : 'hold every connection silent'} after accepting the valid client certificate does not pass the refusal checks`, async (t) => {
    const host = mode === 'reset' ? '127.30.2.3' : '127.30.2.4';
    const pki = await makePki(tempDir(t), host);
    const n = await node(t, host, pki);
    // The node speaks TLS 1.2 and 1.3, so the kit probes the valid certificate in both, TLS 1.3 last.
    n.server.on('secureConnection', (s: tls.TLSSocket) => { if (s.authorized && s.getProtocol() === 'TLSv1.3') n.state.mode = mode; });
    const report = await run(t, inputs(pki, host, n.port));
    if (!report) return;
    t.match(report.incomplete, /^the endpoint stopped (answering|accepting connections) after probe "client certificate: valid, TLS 1\.3"/, report.incomplete ?? 'no reason');
    t.match(report.incomplete, mode === 'reset' ? /ECONNRESET/ : /no answer/);
    t.equal(row(report, 'tls-node:accepts-valid-client-cert').status, 'pass', 'the valid certificate was accepted before the product stopped');
    t.equal(row(report, 'tls-node:refuses-no-client-cert').status, 'pass', 'its refusal came while the valid certificate was still accepted');
    t.equal(row(report, 'tls-node:forbidden-ciphers-refused').status, 'pass', 'the suites were enumerated before');
    for (const check of CLIENT_AUTH_REFUSALS) {
      const r = row(report, check);
      t.equal(r.status, 'inconclusive', `${check}: ${r.evidence}`);
      t.match(r.evidence, /after probe "client certificate: valid, TLS 1\.3".*; the probes this check needs \(client-auth:\w+\) did not run$/);
    }
  });
}

/** node:tls that speaks TLS 1.0 to 1.3 with OpenSSL's DEFAULT list at SECLEVEL=0, as an old product would. */
const ACCEPTS_TLS10: tls.TlsOptions = { minVersion: 'TLSv1', ciphers: 'DEFAULT:@SECLEVEL=0' };

/** Runs the CLI against host:port with a JSON report in `out`; resolves to the exit code and stderr. */
async function cli(host: string, port: number, pki: Pki, out: string): Promise<{ code: unknown; stderr: string; report: Report }> {
  const [cmd, ...pre] = cliCommand();
  const child = spawn(cmd, [...pre, 'conformance', 'tls-node', `${host}:${port}`, '--ca', pki.root, '--client-ca-cert', pki.inter, '--client-ca-key', pki.interKey,
    '--timeout', '1500', '--settle', '100', '--format', 'json', '--out', out], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const code = await new Promise((resolve) => child.once('close', resolve));
  return { code, stderr, report: JSON.parse(readFileSync(out, 'utf8')) as Report };
}

t.test('a node that accepts TLS 1.0 and then stops accepting connections before the TLS 1.1 probe fails ICM-TLS-001 on partial evidence, exit 3', async (t) => {
  const host = '127.41.0.1';
  const dir = tempDir(t);
  const pki = await makePki(dir, host);
  // Connection 1 is the SSLv3 ClientHello, 2 the TLSv1 one: the node answers it, then stops listening.
  const stopAfterTls10 = (n: Awaited<ReturnType<typeof node>>) => { n.state.onConnection = (count) => { if (count === 2) n.stopListening(); }; };
  const n = await node(t, host, pki, ACCEPTS_TLS10);
  stopAfterTls10(n);
  const result = await runTlsNode(inputs(pki, host, n.port)).then((x) => x, (err: Error) => err);
  if (result instanceof Error) return void t.fail(`the run ended with ${result.message}`);
  const { report, evidence: e } = result;
  t.match(report.incomplete, /^the endpoint stopped accepting connections after probe "TLSv1 ClientHello": ECONNREFUSED$/);
  t.same(e.interrupted?.partial, 'versions', 'the versions stage is marked as cut short');
  t.equal(e.versions.TLSv1.accepted, true, `TLS 1.0 was accepted before the stop: ${e.versions.TLSv1.detail}`);
  t.equal(e.versions['TLSv1.1'].answer, 'not-run', 'TLS 1.1 was never probed');
  const legacy = row(report, 'tls-node:legacy-versions-refused');
  t.equal(legacy.status, 'fail', legacy.evidence);
  t.equal(legacy.partialEvidence, true, 'the failure is marked as resting on partial evidence');
  t.match(legacy.evidence, /^accepted TLSv1 — SSLv3: .*; TLSv1: ServerHello TLSv1 with .*; TLSv1\.1: not probed: the endpoint had stopped answering \(proven before the stop: the endpoint stopped accepting connections after probe "TLSv1 ClientHello": ECONNREFUSED; the probes this check needs \(versions \(cut short\)\) did not run to their end\)$/);
  for (const check of ['tls-node:tls12-supported', 'tls-node:forbidden-ciphers-refused', 'tls-node:chain-to-ca']) {
    const r = row(report, check);
    t.equal(r.status, 'inconclusive', `${check} proves nothing from TLS 1.0 alone: ${r.evidence}`);
    t.equal(r.partialEvidence, undefined);
    t.match(r.evidence, /the probes this check needs \(versions \(cut short\)(, [\w:]+)*\) did not run$/);
  }
  t.equal(report.rows.filter((r) => r.partialEvidence).length, 1, 'only the proven failure rests on partial evidence');
  t.equal(report.conformant, false, 'a SHALL failed');
  const page = reportHtml(report);
  t.match(page, /<tr class="fail" id="ICM-TLS-001">.*<td class="status">fail<br><span class="partial">partial evidence<\/span><\/td>/);
  t.match(page, /Rows that needed what did not run are inconclusive, unless what ran before already proves a failure: those fail, marked “partial evidence”/);

  // The CLI: the failure outranks the incomplete run (3, not 4); the JSON report carries the mark.
  const n2 = await node(t, host, pki, ACCEPTS_TLS10);
  stopAfterTls10(n2);
  const c = await cli(host, n2.port, pki, join(dir, 'report.json'));
  t.equal(c.code, 3, `exit 3: a SHALL failed, though the run is incomplete (${c.stderr.trim()})`);
  t.match(c.stderr, /: 0 pass, 1 fail, 1 not applicable, 18 inconclusive;/);
  t.match(c.stderr, /\nincomplete run: the endpoint stopped accepting connections after probe "TLSv1 ClientHello": ECONNREFUSED\n/);
  t.match(c.report.incomplete, /after probe "TLSv1 ClientHello"/);
  t.same(c.report.rows.filter((r) => r.partialEvidence).map((r) => [r.id, r.status]), [['ICM-TLS-001', 'fail']]);
});

t.test('the same node stopping before the TLS 1.0 probe proves nothing: ICM-TLS-001 inconclusive, exit 4', async (t) => {
  const host = '127.41.0.2';
  const dir = tempDir(t);
  const pki = await makePki(dir, host);
  const n = await node(t, host, pki, ACCEPTS_TLS10);
  n.state.onConnection = (count) => { if (count === 1) n.stopListening(); };
  const c = await cli(host, n.port, pki, join(dir, 'report.json'));
  t.equal(c.code, 4, `exit 4: incomplete, no SHALL failed (${c.stderr.trim()})`);
  const legacy = row(c.report, 'tls-node:legacy-versions-refused');
  t.equal(legacy.status, 'inconclusive', legacy.evidence);
  t.match(legacy.evidence, /^the endpoint stopped accepting connections after probe "SSLv3 ClientHello": ECONNREFUSED; the probes this check needs \(versions \(cut short\)(, tls13)?\) did not run$/);
  t.equal(c.report.rows.some((r) => r.partialEvidence), false, 'nothing rests on partial evidence');
  t.equal(c.report.conformant, true);
  t.match(c.stderr, /: 0 pass, 0 fail, 1 not applicable, 19 inconclusive;/);
});

t.test('a node that chooses a forbidden and a discouraged suite and then stops mid-enumeration fails ICM-TLS-004 and -006 on partial evidence', async (t) => {
  const host = '127.41.0.3';
  const dir = tempDir(t);
  const pki = await makePki(dir, host);
  // TLS 1.2 and 1.3 only; in TLS 1.2 the node prefers an anonymous suite, then a CBC one, then a good one.
  const n = await node(t, host, pki, { minVersion: 'TLSv1.2', honorCipherOrder: true, ciphers: 'AECDH-AES128-SHA:ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES128-GCM-SHA256:@SECLEVEL=0' });
  // 4 raw ClientHellos, 2 TLS 1.3 handshakes, then the enumeration: offers 1 and 2 are answered, offer 3 refused.
  n.state.onConnection = (count) => { if (count === 8) n.stopListening(); };
  const result = await runTlsNode(inputs(pki, host, n.port)).then((x) => x, (err: Error) => err);
  if (result instanceof Error) return void t.fail(`the run ended with ${result.message}`);
  const { report, evidence: e } = result;
  t.match(report.incomplete, /^the endpoint stopped accepting connections after probe "TLSv1\.2 suite enumeration, offer 2": ECONNREFUSED$/);
  t.same(e.interrupted?.partial, 'suites');
  t.same(e.suites['TLSv1.2']?.map((s) => s.name), ['TLS_ECDH_anon_WITH_AES_128_CBC_SHA', 'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA'], 'the suites chosen before the stop are kept');
  const forbidden = row(report, 'tls-node:forbidden-ciphers-refused');
  t.equal(forbidden.status, 'fail', forbidden.evidence);
  t.equal(forbidden.partialEvidence, true);
  t.match(forbidden.evidence, /^accepts forbidden suites: TLS_ECDH_anon_WITH_AES_128_CBC_SHA \(TLSv1\.2\) \(proven before the stop: .*the probes this check needs \(suites \(cut short\)\) did not run to their end\)$/);
  const discouraged = row(report, 'tls-node:discouraged-ciphers-refused');
  t.equal(discouraged.status, 'fail', discouraged.evidence);
  t.equal(discouraged.partialEvidence, true);
  t.match(discouraged.evidence, /^TLS 1\.2 accepts discouraged suites: TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA \(TLSv1\.2\) \(proven before the stop/);
  const recommended = row(report, 'tls-node:recommended-cipher');
  t.equal(recommended.status, 'inconclusive', `no pass from partial evidence: ${recommended.evidence}`);
  t.equal(row(report, 'tls-node:legacy-versions-refused').status, 'pass', 'the finished versions stage keeps its verdict');
  t.equal(row(report, 'tls-node:legacy-versions-refused').partialEvidence, undefined);
  t.equal(report.conformant, false, 'ICM-TLS-004 is a SHALL');
});
