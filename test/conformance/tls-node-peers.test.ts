/**
 * `conformance tls-node` against real TLS servers on loopback, each configured so that the right
 * verdict of every ICM-TLS requirement is known: openssl s_server as a conformant node and as a badly
 * configured one (TLS 1.0 at SECLEVEL=0, NULL, anonymous and RSA-key-transport suites (Debian's OpenSSL has no 3DES or RC4 left), RSA-1024/SHA-1 certificate for
 * another name, no intermediate, no client-certificate request), and stunnel as a TLS-1.2-only mutual
 * TLS front that does not check revocation. Key findings are cross-checked with openssl s_client.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import t from 'tap';
import { judgeTlsNode, runTlsNode, type Report } from '../../src/conformance/index.ts';
import { tempDir } from '../helpers/tmp.ts';
import { makePki, type Pki } from './fixtures/pki.ts';
import { peerOption, startHoldingBackend, startSServer, startStunnel } from './fixtures/servers.ts';

const read = (f: string) => readFileSync(f, 'utf8');

function statuses(report: Report): Record<string, string> {
  return Object.fromEntries(report.rows.map((r) => [r.id, r.status]));
}

function evidence(report: Report, id: string): string {
  return report.rows.find((r) => r.id === id)?.evidence ?? '';
}

function kitInputs(pki: Pki, host: string, port: number) {
  return {
    endpoint: { host, port },
    caPem: read(pki.root),
    clientCertPem: read(pki.client.chain),
    clientKeyPem: read(pki.client.key),
    clientCaCertPem: read(pki.inter),
    clientCaKeyPem: read(pki.interKey),
    revokedCertPem: read(pki.revokedClient.chain),
    revokedKeyPem: read(pki.revokedClient.key),
    timeoutMs: 5000,
    settleMs: 500,
  };
}

/** openssl s_client as an independent witness: does a handshake with these arguments complete? */
function sClientConnects(host: string, port: number, args: string[]): boolean {
  const r = spawnSync('openssl', ['s_client', '-connect', `${host}:${port}`, ...args], { input: '', encoding: 'utf8', timeout: 10_000 });
  return /Cipher is (?!\(NONE\))/.test(r.stdout) && !/Cipher is \(NONE\)/.test(r.stdout);
}

const ALL_PASS = {
  'ICM-TLS-001': 'pass', 'ICM-TLS-002': 'pass', 'ICM-TLS-003': 'pass', 'ICM-TLS-004': 'pass', 'ICM-TLS-005': 'pass',
  'ICM-TLS-006': 'pass', 'ICM-TLS-007': 'pass', 'ICM-TLS-008': 'pass', 'ICM-TLS-009': 'pass', 'ICM-TLS-010': 'pass',
  'ICM-TLS-011': 'pass', 'ICM-TLS-012': 'pass', 'ICM-TLS-013': 'pass', 'ICM-TLS-014': 'pass', 'ICM-TLS-015': 'pass',
  'ICM-TLS-016': 'pass', 'ICM-TLS-017': 'not-applicable', 'ICM-TLS-018': 'pass', 'ICM-TLS-019': 'pass', 'ICM-CHK-001': 'pass',
};

t.test('openssl s_server configured to the profile passes every check', peerOption('openssl'), async (t) => {
  const host = '127.30.0.11';
  const pki = await makePki(tempDir(t), host);
  const { port } = await startSServer(t, host, [
    '-cert', pki.nodeEc.cert, '-key', pki.nodeEc.key, '-cert_chain', pki.inter,
    '-CAfile', pki.root, '-Verify', '3', '-verify_return_error', '-crl_check', '-CRL', pki.crl,
    '-cipher', 'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305',
  ]);
  const started = Date.now();
  const { report, evidence: e } = await runTlsNode(kitInputs(pki, host, port));
  t.comment(`tls-node run took ${Date.now() - started} ms`);
  t.same(statuses(report), ALL_PASS, 'verdicts');
  t.equal(report.conformant, true);
  t.match(evidence(report, 'ICM-TLS-016'), /certificate expired/, 'the expired certificate was refused for its expiry');
  t.match(evidence(report, 'ICM-CHK-001'), /certificate revoked/, 'the revoked certificate was refused for its revocation');
  t.match(evidence(report, 'ICM-TLS-015'), /unknown ca/, 'the foreign certificate was refused as unknown CA');
  t.same(e.suites['TLSv1.2']?.map((s) => s.name), ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384', 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256'], 'exactly the configured suites');
  t.equal(e.serverChain.length, 2, 'leaf and intermediate were sent');
  // Claiming the RSA baseline with only an ECDSA certificate must fail, not pass silently.
  const claimed = judgeTlsNode(e, new Set(['rsa-baseline']));
  t.equal(claimed.get('tls-node:rsa-baseline')?.status, 'fail', 'RSA baseline claimed but not delivered');
  t.match(claimed.get('tls-node:rsa-baseline')?.evidence, /certificate key ec|alert/);
  t.equal(report.manual.every((m) => ['Relying Node', 'TLS Gateway'].includes(m.actor)), true, 'manual rows are for the actors under test');
});

t.test('openssl s_server with TLS 1.0, SECLEVEL=0, NULL and anonymous suites, a weak certificate and no client auth fails the right checks', peerOption('openssl'), async (t) => {
  const host = '127.30.0.12';
  const pki = await makePki(tempDir(t), host);
  const { port } = await startSServer(t, host, [
    '-cert', pki.nodeWeak.cert, '-key', pki.nodeWeak.key,
    '-min_protocol', 'TLSv1', '-max_protocol', 'TLSv1.2',
    '-cipher', 'NULL-SHA:AECDH-AES128-SHA:AES128-SHA:ECDHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0',
  ]);
  const { report, evidence: e } = await runTlsNode({ ...kitInputs(pki, host, port), options: ['rsa-baseline'] });
  t.same(statuses(report), {
    'ICM-TLS-001': 'fail', 'ICM-TLS-002': 'pass', 'ICM-TLS-003': 'fail', 'ICM-TLS-004': 'fail', 'ICM-TLS-005': 'pass',
    'ICM-TLS-006': 'fail', 'ICM-TLS-007': 'fail', 'ICM-TLS-008': 'fail', 'ICM-TLS-009': 'fail', 'ICM-TLS-010': 'pass',
    'ICM-TLS-011': 'fail', 'ICM-TLS-012': 'fail', 'ICM-TLS-013': 'fail', 'ICM-TLS-014': 'pass', 'ICM-TLS-015': 'fail',
    'ICM-TLS-016': 'fail', 'ICM-TLS-017': 'fail', 'ICM-TLS-018': 'pass', 'ICM-TLS-019': 'pass', 'ICM-CHK-001': 'fail',
  }, 'verdicts');
  t.equal(report.conformant, false);
  t.match(evidence(report, 'ICM-TLS-001'), /accepted TLSv1, TLSv1\.1/);
  t.match(evidence(report, 'ICM-TLS-004'), /TLS_RSA_WITH_NULL_SHA .*TLS_ECDH_anon_WITH_AES_128_CBC_SHA|TLS_ECDH_anon_WITH_AES_128_CBC_SHA.*TLS_RSA_WITH_NULL_SHA /);
  t.match(evidence(report, 'ICM-TLS-009'), /RSA-1024.*SHA-1/);
  t.match(evidence(report, 'ICM-TLS-017'), /RSA-1024/);
  t.same(e.suites['TLSv1']?.map((s) => s.name).sort(), ['TLS_ECDH_anon_WITH_AES_128_CBC_SHA', 'TLS_RSA_WITH_AES_128_CBC_SHA', 'TLS_RSA_WITH_NULL_SHA'], 'TLS 1.0 suites');
  t.equal(sClientConnects(host, port, ['-tls1_2', '-cipher', 'AECDH-AES128-SHA:@SECLEVEL=0']), true, 's_client agrees: an anonymous suite is accepted');
  // Independent witness: openssl s_client at SECLEVEL=0 completes a TLS 1.0 handshake, and TLS 1.3 fails.
  t.equal(sClientConnects(host, port, ['-tls1', '-cipher', 'DEFAULT:@SECLEVEL=0']), true, 's_client -tls1 connects');
  t.equal(sClientConnects(host, port, ['-tls1_3']), false, 's_client -tls1_3 does not');
});

t.test('stunnel as a TLS 1.2-only mutual-TLS front without revocation checking', peerOption('openssl', 'stunnel4'), async (t) => {
  const host = '127.30.0.13';
  const dir = tempDir(t);
  const pki = await makePki(dir, host);
  const { port } = await startStunnel(t, dir, host, [
    `cert = ${pki.nodeRsa.chain}`, `key = ${pki.nodeRsa.key}`, `CAfile = ${pki.root}`,
    'verifyChain = yes', 'requireCert = yes', 'sslVersionMin = TLSv1.2', 'sslVersionMax = TLSv1.2',
    'ciphers = ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384',
  ]);
  const { report } = await runTlsNode({ ...kitInputs(pki, host, port), options: ['rsa-baseline'] });
  t.same(statuses(report), { ...ALL_PASS, 'ICM-TLS-003': 'fail', 'ICM-TLS-017': 'pass', 'ICM-CHK-001': 'fail' }, 'verdicts');
  t.match(evidence(report, 'ICM-CHK-001'), /revoked by its CA\): accepted/, 'the revoked certificate got in');
  t.match(evidence(report, 'ICM-TLS-017'), /RSA-2048/);
  t.equal(sClientConnects(host, port, ['-tls1_3']), false, 's_client -tls1_3 does not connect either');
});

t.test('a plaintext service that never speaks TLS: failures and inconclusive refusals, no crash', async (t) => {
  const host = '127.30.0.14';
  const port = await startHoldingBackend(t, host);
  const pki = await makePki(tempDir(t), host);
  const { report } = await runTlsNode({ ...kitInputs(pki, host, port), timeoutMs: 300, settleMs: 100 });
  const s = statuses(report);
  t.equal(s['ICM-TLS-002'], 'fail', 'no TLS 1.2');
  t.equal(s['ICM-TLS-001'], 'inconclusive', 'silence to legacy hellos from an endpoint that never spoke TLS is no refusal');
  t.equal(s['ICM-TLS-007'], 'fail', 'no certificate, no chain');
  t.equal(s['ICM-TLS-008'], 'inconclusive', 'no certificate to name-check');
  for (const id of ['ICM-TLS-013', 'ICM-TLS-015', 'ICM-TLS-016', 'ICM-CHK-001']) t.equal(s[id], 'inconclusive', `${id}: a refusal of everything proves nothing`);
  t.equal(s['ICM-TLS-014'], 'fail', 'the valid certificate was not accepted');
});

t.test('a legacy TLS 1.0-only node that requires client certificates: its client-certificate policy is still judged', peerOption('openssl'), async (t) => {
  const host = '127.30.0.15';
  const pki = await makePki(tempDir(t), host);
  const { port } = await startSServer(t, host, [
    '-cert', pki.nodeRsa.cert, '-key', pki.nodeRsa.key, '-cert_chain', pki.inter, '-tls1',
    '-cipher', 'ECDHE-RSA-AES128-SHA:@SECLEVEL=0', '-CAfile', pki.root, '-Verify', '3', '-verify_return_error',
  ]);
  const { report, evidence: e } = await runTlsNode(kitInputs(pki, host, port));
  const s = statuses(report);
  t.same([s['ICM-TLS-001'], s['ICM-TLS-002'], s['ICM-TLS-003'], s['ICM-TLS-005']], ['fail', 'fail', 'fail', 'fail'], 'versions and suites');
  t.equal(e.plaintextVersion, 'TLSv1');
  t.same([s['ICM-TLS-007'], s['ICM-TLS-012'], s['ICM-TLS-013'], s['ICM-TLS-014'], s['ICM-TLS-015'], s['ICM-TLS-016']], ['pass', 'pass', 'pass', 'pass', 'pass', 'pass'], 'chain and client certificate policy, judged over TLS 1.0');
  t.equal(s['ICM-CHK-001'], 'fail', 'no CRL configured: the revoked certificate gets in');
  t.match(evidence(report, 'ICM-TLS-014'), /accepted \(TLSv1,/);
  t.equal(s['ICM-TLS-018'], 'inconclusive', 'TLS 1.2 extension checks need TLS 1.2');
});
