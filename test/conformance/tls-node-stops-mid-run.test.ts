/**
 * `conformance tls-node` against a product that stops answering in the middle of a run: a real TLS
 * server (node:tls, OpenSSL) that stops listening after N connections, one that starts resetting every
 * connection, and one that starts accepting connections without ever answering, each right after it
 * accepted the valid client certificate. Verdicts already reached stay; checks whose probes could not
 * run are inconclusive with the reason; the report is still written and the CLI says the run was
 * incomplete. Endpoints listen on 127.30.2.x.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import t from 'tap';
import { runTlsNode, type Report } from '../../src/conformance/index.ts';
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
async function node(t: { teardown: (fn: () => void) => void }, host: string, pki: Pki) {
  const read = (f: string) => readFileSync(f);
  const server = tls.createServer({
    key: read(pki.nodeEc.key), cert: read(pki.nodeEc.chain), ca: read(pki.root),
    requestCert: true, rejectUnauthorized: true,
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
    n.server.on('secureConnection', (s: tls.TLSSocket) => { if (s.authorized) n.state.mode = mode; });
    const report = await run(t, inputs(pki, host, n.port));
    if (!report) return;
    t.match(report.incomplete, /^the endpoint stopped (answering|accepting connections) after probe "client certificate: valid"/, report.incomplete ?? 'no reason');
    t.match(report.incomplete, mode === 'reset' ? /ECONNRESET/ : /no answer/);
    t.equal(row(report, 'tls-node:accepts-valid-client-cert').status, 'pass', 'the valid certificate was accepted before the product stopped');
    t.equal(row(report, 'tls-node:refuses-no-client-cert').status, 'pass', 'its refusal came while the valid certificate was still accepted');
    t.equal(row(report, 'tls-node:forbidden-ciphers-refused').status, 'pass', 'the suites were enumerated before');
    for (const check of CLIENT_AUTH_REFUSALS) {
      const r = row(report, check);
      t.equal(r.status, 'inconclusive', `${check}: ${r.evidence}`);
      t.match(r.evidence, /after probe "client certificate: valid".*; the probes this check needs \(client-auth:\w+\) did not run$/);
    }
  });
}
