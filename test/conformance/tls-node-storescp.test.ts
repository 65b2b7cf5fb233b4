/**
 * `conformance tls-node` against dcmtk storescp with +tls (DICOM PS3.15 Annex B, dcmtk's default
 * "Non-downgrading BCP 195" profile, client certificates required, CRL checking on), in two
 * configurations: trusting only the root, storescp sends no intermediate (ICM-TLS-007 fails, which
 * openssl s_client -showcerts confirms); trusting root and issuing CA, OpenSSL completes the chain.
 * The second run goes through the CLI to cover option parsing, JSON and HTML output and exit codes.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { runTlsNode, type Report } from '../../src/conformance/index.ts';
import { tempDir } from '../helpers/tmp.ts';
import { makePki, type Pki } from './fixtures/pki.ts';
import { peerOption, startStorescp } from './fixtures/servers.ts';

const HOST = '127.0.0.1';
const CLI = join(import.meta.dirname, 'fixtures', 'cli.ts');

function statuses(report: Report): Record<string, string> {
  return Object.fromEntries(report.rows.map((r) => [r.id, r.status]));
}

function storescpTls(pki: Pki, trust: string[]): string[] {
  return ['--enable-tls', pki.nodeRsa.key, pki.nodeRsa.cert, '--null-passwd', ...trust.flatMap((f) => ['+cf', f]), '+crl', pki.crl];
}

/** dcmtk's default profile (B.10 Non-downgrading BCP 195) includes DHE suites: ICM-TLS-006 (SHOULD) fails. */
const STORESCP_EXPECTED = {
  'ICM-TLS-001': 'pass', 'ICM-TLS-002': 'pass', 'ICM-TLS-003': 'pass', 'ICM-TLS-004': 'pass', 'ICM-TLS-005': 'pass',
  'ICM-TLS-006': 'fail', 'ICM-TLS-007': 'pass', 'ICM-TLS-008': 'pass', 'ICM-TLS-009': 'pass', 'ICM-TLS-010': 'pass',
  'ICM-TLS-011': 'pass', 'ICM-TLS-012': 'pass', 'ICM-TLS-013': 'pass', 'ICM-TLS-014': 'pass', 'ICM-TLS-015': 'pass',
  'ICM-TLS-016': 'pass', 'ICM-TLS-017': 'pass', 'ICM-TLS-018': 'pass', 'ICM-TLS-019': 'pass', 'ICM-CHK-001': 'pass',
};

t.test('storescp +tls trusting only the root: everything but the missing intermediate and DHE', peerOption('storescp', 'openssl'), async (t) => {
  const dir = tempDir(t);
  const pki = await makePki(dir, HOST);
  const { port } = await startStorescp(t, dir, storescpTls(pki, [pki.root]));
  const read = (f: string) => readFileSync(f, 'utf8');
  const { report, evidence } = await runTlsNode({
    endpoint: { host: HOST, port, serverName: 'node.klinikum.internal' },
    caPem: read(pki.root),
    clientCertPem: read(pki.client.chain), clientKeyPem: read(pki.client.key),
    clientCaCertPem: read(pki.inter), clientCaKeyPem: read(pki.interKey),
    revokedCertPem: read(pki.revokedClient.chain), revokedKeyPem: read(pki.revokedClient.key),
    options: ['rsa-baseline'], timeoutMs: 5000, settleMs: 500,
  });
  t.same(statuses(report), { ...STORESCP_EXPECTED, 'ICM-TLS-007': 'fail' }, 'verdicts');
  t.equal(report.conformant, false, 'a SHALL failed');
  t.equal(evidence.serverChain.length, 1, 'storescp sent the end-entity certificate only');
  const s = spawnSync('openssl', ['s_client', '-connect', `${HOST}:${port}`, '-showcerts', '-tls1_2', '-cert', pki.client.cert, '-key', pki.client.key], { input: '', encoding: 'utf8', timeout: 10_000 });
  t.equal(s.stdout.match(/BEGIN CERTIFICATE/g)?.length, 1, 'openssl s_client -showcerts also sees one certificate');
  t.ok(evidence.suites['TLSv1.2']?.some((x) => x.name.startsWith('TLS_DHE_RSA_')), 'DHE suites offered by the BCP 195 non-downgrading profile');
});

t.test('storescp +tls trusting root and issuing CA, judged through the CLI (JSON, HTML, exit status)', peerOption('storescp', 'openssl'), async (t) => {
  const dir = tempDir(t);
  const pki = await makePki(dir, HOST);
  const { port } = await startStorescp(t, dir, storescpTls(pki, [pki.root, pki.inter]));
  const args = [
    'conformance', 'tls-node', `${HOST}:${port}`, '--name', 'node.klinikum.internal', '--ca', pki.root,
    '--client-cert', pki.client.chain, '--client-key', pki.client.key,
    '--client-ca-cert', pki.inter, '--client-ca-key', pki.interKey,
    '--revoked-cert', pki.revokedClient.chain, '--revoked-key', pki.revokedClient.key,
    '--claim', 'rsa-baseline', '--settle', '500',
  ];
  const cli = (extra: string[]) => spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args, ...extra], { encoding: 'utf8', timeout: 120_000 });

  const json = cli([]);
  t.equal(json.status, 0, `exit 0: only a SHOULD failed (${json.stderr.trim()})`);
  const report = JSON.parse(json.stdout) as Report;
  t.equal(report.schema, 'wardgate.conformance.report/1');
  t.same(statuses(report), STORESCP_EXPECTED, 'verdicts');
  t.match(json.stderr, /19 pass, 1 fail, 0 not applicable, 0 inconclusive/, 'one-line summary on stderr');

  const out = join(dir, 'report.html');
  const html = cli(['--format', 'html', '--out', out]);
  t.equal(html.status, 0);
  const page = readFileSync(out, 'utf8');
  t.match(page, /<tr class="pass" id="ICM-TLS-007">/, 'HTML row per requirement with its status');
  t.match(page, /<tr class="fail" id="ICM-TLS-006">/);
  t.notMatch(page, /<script/i, 'no scripts in the report');
});

t.test('CLI errors are one line with a code and a non-zero exit', async (t) => {
  const run = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', CLI, 'conformance', ...args], { encoding: 'utf8', timeout: 60_000 });
  const cases: Array<[string[], number, RegExp]> = [
    [['tls-node', 'nonsense'], 2, /CLI_ARGUMENT.*ADDR:PORT/],
    [['tls-node', '127.0.0.1:1', '--claim', 'ARI'], 2, /unknown --claim "ARI"/],
    [['tls-node', '127.0.0.1:1', '--client-cert', 'x.pem'], 2, /go together/],
    [['tls-node', '127.0.0.1:1', '--ca', '/nonexistent/root.pem'], 2, /cannot read --ca/],
    [['tls-node', '127.30.0.99:1'], 1, /TLS_PROBE_FAILED.*ECONNREFUSED/],
    [['acme-client', '--claim', 'OCSP', '--', 'certbot'], 2, /CLI_ARGUMENT.*unknown --claim "OCSP"/],
    [['acme-client', '--server-address', '10.0.0.1', '--', 'certbot'], 2, /CLI_ARGUMENT.*loopback/],
    [['acme-client', '--phases', 'enroll,later', '--', 'certbot'], 2, /CLI_ARGUMENT.*unknown phase "later"/],
  ];
  for (const [args, code, message] of cases) {
    const r = run(args);
    t.equal(r.status, code, `${args.join(' ')}: exit ${code}`);
    t.match(r.stderr, message, `${args.join(' ')}: message`);
    t.equal(r.stderr.trim().split('\n').length, 1, `${args.join(' ')}: one line`);
  }
});
