/**
 * `conformance tls-node` judges client authentication in TLS 1.2 and in TLS 1.3 when the endpoint
 * speaks both. A product whose TLS 1.3 path lets clients in without a valid certificate must fail
 * ICM-TLS-013/015/016 even though its TLS 1.2 path refuses them: every modern client offers TLS 1.3,
 * so judging TLS 1.2 alone would be a false pass. Endpoints listen on 127.47.0.x.
 *
 * The hostile product is a small node:tls server written here on purpose: it is the faulty product
 * under test (a verify hook that runs for TLS 1.2 only, while TLS 1.3 asks for the certificate and
 * ignores the answer), not a stand-in for a real peer; its TLS stack is OpenSSL's, as a Node-based
 * product's would be. The conformant endpoint is a real openssl s_server.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type net from 'node:net';
import tls from 'node:tls';
import t from 'tap';
import { reportHtml, reportJson, runTlsNode, type Report } from '../../src/conformance/index.ts';
import { authAttempts } from '../../src/conformance/tls-node/evidence.ts';
import { freePort } from '../../src/net/free-port.ts';
import { tempDir } from '../helpers/tmp.ts';
import { makePki, type Pki } from './fixtures/pki.ts';
import { peerOption, startSServer } from './fixtures/servers.ts';

const read = (f: string) => readFileSync(f, 'utf8');
const CLIENT_AUTH = ['ICM-TLS-013', 'ICM-TLS-014', 'ICM-TLS-015', 'ICM-TLS-016'];

function row(report: Report, id: string) {
  const r = report.rows.find((x) => x.id === id);
  if (!r) throw new Error(`${id} not in the report`);
  return r;
}

function inputs(pki: Pki, host: string, port: number, revoked = true) {
  return {
    endpoint: { host, port },
    caPem: read(pki.root),
    clientCertPem: read(pki.client.chain), clientKeyPem: read(pki.client.key),
    clientCaCertPem: read(pki.inter), clientCaKeyPem: read(pki.interKey),
    ...(revoked ? { revokedCertPem: read(pki.revokedClient.chain), revokedKeyPem: read(pki.revokedClient.key) } : {}),
    timeoutMs: 5000, settleMs: 500,
  };
}

/** openssl s_client as an independent witness: does a TLS 1.3 client without a certificate get to talk? */
function sClientTls13WithoutCert(host: string, port: number): string {
  const r = spawnSync('openssl', ['s_client', '-connect', `${host}:${port}`, '-tls1_3', '-ign_eof'], { input: 'GET / HTTP/1.0\r\n\r\n', encoding: 'utf8', timeout: 10_000 });
  return `${r.stdout}\n${r.stderr}`;
}

/**
 * The faulty product: requests a client certificate in every version, but its check (the
 * 'secureConnection' hook) closes unauthorized TLS 1.2 connections only. `onAccepted` sees each
 * connection it keeps.
 */
async function tls12OnlyVerifier(t: { teardown: (fn: () => void) => void }, host: string, pki: Pki, onAccepted: (s: tls.TLSSocket, server: tls.Server) => void = () => {}) {
  const server = tls.createServer({
    key: readFileSync(pki.nodeEc.key), cert: readFileSync(pki.nodeEc.chain), ca: readFileSync(pki.root),
    requestCert: true, rejectUnauthorized: false,
  });
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  server.on('tlsClientError', () => {});
  server.on('secureConnection', (s: tls.TLSSocket) => {
    s.on('error', () => {});
    if (s.getProtocol() !== 'TLSv1.3' && !s.authorized) return void s.destroy();
    onAccepted(s, server);
  });
  const port = await freePort(host);
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  t.teardown(() => { for (const s of sockets) s.destroy(); server.close(); });
  return port;
}

t.test('openssl s_server speaking TLS 1.2 and 1.3 and requiring client certificates passes ICM-TLS-013..016 in both versions', peerOption('openssl'), async (t) => {
  const host = '127.47.0.1';
  const pki = await makePki(tempDir(t), host);
  const { port } = await startSServer(t, host, [
    '-cert', pki.nodeEc.cert, '-key', pki.nodeEc.key, '-cert_chain', pki.inter,
    '-CAfile', pki.root, '-Verify', '1', '-verify_return_error', '-crl_check', '-CRL', pki.crl,
  ]);
  const { report, evidence: e } = await runTlsNode(inputs(pki, host, port));
  t.equal(e.tls13.accepted && e.versions['TLSv1.2'].accepted, true, 'the server speaks TLS 1.2 and 1.3');
  for (const [name, probe] of Object.entries(e.clientAuth)) {
    t.same(authAttempts(probe).map((a) => a.version), ['TLS 1.2', 'TLS 1.3'], `${name} probed in both versions`);
  }
  t.same(authAttempts(e.clientAuth.valid!).map((a) => a.outcome.protocol), ['TLSv1.2', 'TLSv1.3'], 'the valid certificate got in with each version');
  for (const id of [...CLIENT_AUTH, 'ICM-CHK-001']) t.equal(row(report, id).status, 'pass', `${id}: ${row(report, id).evidence}`);
  // In TLS 1.3 the refusal comes as an alert after the client's Finished: the kit must have waited for it.
  t.match(row(report, 'ICM-TLS-013').evidence, /^no client certificate: refused in TLS 1\.2 \(alert [a-z ]+\(\d+\) from the server\), refused in TLS 1\.3 \(after the handshake: alert certificate required \(116\) from the server\); /);
  t.match(row(report, 'ICM-TLS-015').evidence, /refused in TLS 1\.2 \(alert unknown ca.*\), refused in TLS 1\.3 \(after the handshake: alert unknown ca/);
  t.match(row(report, 'ICM-TLS-016').evidence, /refused in TLS 1\.2 \(alert certificate expired.*\), refused in TLS 1\.3 \(after the handshake: alert certificate expired/);
  t.match(row(report, 'ICM-CHK-001').evidence, /refused in TLS 1\.2 \(alert certificate revoked.*\), refused in TLS 1\.3 \(after the handshake: alert certificate revoked/);
  t.match(row(report, 'ICM-TLS-014').evidence, /: accepted in TLS 1\.2 \(TLSv1\.2, .*; connection kept open\), accepted in TLS 1\.3 \(TLSv1\.3, .*; connection kept open\)$/);
  t.match(sClientTls13WithoutCert(host, port), /alert certificate required|alert number 116/, 's_client agrees: TLS 1.3 without a certificate is refused');
});

t.test('a product that verifies client certificates in TLS 1.2 only fails ICM-TLS-013, -015 and -016, naming TLS 1.3', async (t) => {
  const host = '127.47.0.2';
  const pki = await makePki(tempDir(t), host);
  const port = await tls12OnlyVerifier(t, host, pki);
  const { report, evidence: e } = await runTlsNode(inputs(pki, host, port, false));
  t.equal(e.clientAuth.noCert.outcome.accepted, false, 'TLS 1.2 without a certificate is refused, as the old kit saw');
  t.equal(e.clientAuth.noCert.tls13?.accepted, true, 'TLS 1.3 without a certificate is let in');
  for (const id of ['ICM-TLS-013', 'ICM-TLS-015', 'ICM-TLS-016']) {
    const r = row(report, id);
    t.equal(r.status, 'fail', `${id}: ${r.evidence}`);
    // Its TLS 1.2 hook drops the connection as the handshake ends, which the client sees as a reset or a close.
    t.match(r.evidence, /^accepted in TLS 1\.3 though refused in TLS 1\.2 — .*: refused in TLS 1\.2 \(.+\), accepted in TLS 1\.3 \(TLSv1\.3, TLS_\w+; connection kept open\)$/);
  }
  t.match(row(report, 'ICM-TLS-013').evidence, /— no client certificate: refused in TLS 1\.2/);
  t.equal(row(report, 'ICM-TLS-014').status, 'pass', 'the valid certificate is accepted in both versions');
  t.equal(row(report, 'ICM-TLS-012').status, 'pass', 'the TLS 1.2 flight carries a CertificateRequest');
  t.equal(report.conformant, false);
  // Both report formats carry the version that failed.
  t.match(JSON.parse(reportJson(report)).rows.find((r: { id: string }) => r.id === 'ICM-TLS-013').evidence, /accepted in TLS 1\.3 though refused in TLS 1\.2/);
  t.match(reportHtml(report), /<tr class="fail" id="ICM-TLS-013">.*accepted in TLS 1\.3 though refused in TLS 1\.2/s);
});

t.test('the same product stopping right after letting a TLS 1.3 client in without a certificate fails ICM-TLS-013 on partial evidence', async (t) => {
  const host = '127.47.0.3';
  const pki = await makePki(tempDir(t), host);
  // Two TLS 1.3 handshakes without a certificate in the tls13 stage; the third is the client-auth probe.
  let bare = 0;
  const port = await tls12OnlyVerifier(t, host, pki, (s, server) => { if (!s.authorized && ++bare === 3) server.close(); });
  const { report, evidence: e } = await runTlsNode(inputs(pki, host, port));
  t.match(e.interrupted?.reason, /^the endpoint stopped accepting connections after probe "client certificate: none, TLS 1\.3": ECONNREFUSED$/);
  const r = row(report, 'ICM-TLS-013');
  t.equal(r.status, 'fail', r.evidence);
  t.equal(r.partialEvidence, true);
  t.match(r.evidence, /^accepted in TLS 1\.3 though refused in TLS 1\.2 — no client certificate: .* \(proven before the stop: /);
  t.equal(row(report, 'ICM-TLS-014').status, 'inconclusive', 'the valid certificate was never probed');
});
