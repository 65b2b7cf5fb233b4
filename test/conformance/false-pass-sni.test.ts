/**
 * A product whose client-certificate policy depends on SNI: connections naming the node (what the kit
 * sends when given --name) reach a strict openssl s_server, connections without SNI reach a default
 * one that asks for no certificate, like a web server whose default virtual host lacks
 * `ssl_verify_client`, or one that still speaks TLS 1.0. Anyone can leave SNI out, so neither
 * refuses-no-client-cert nor legacy-versions-refused may pass.
 * Listens on 127.64.0.1-4.
 */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { runTlsNode, type Report } from '../../src/conformance/index.ts';
import { tempDir } from '../helpers/tmp.ts';
import { makePki, type Pki } from './fixtures/pki.ts';
import { peerOption, startSServer } from './fixtures/servers.ts';
import { helloFront } from './fixtures/hello-front.ts';

const read = (f: string) => readFileSync(f, 'utf8');
const NAME = 'node.klinikum.internal';

function row(report: Report, check: string) {
  const r = report.rows.find((x) => x.check === check);
  if (!r) throw new Error(`${check} not in the report`);
  return r;
}

/** Relays each connection, ClientHello included, to `withName` when the hello carries NAME as SNI, else to `without`. */
function sniFront(t: { teardown: (fn: () => void) => void }, host: string, withName: number, without: number): Promise<number> {
  return helloFront(t, host, (b) => b.length >= 5 && b.length >= 5 + b.readUInt16BE(3), (b) => ({ relayTo: b.includes(Buffer.from(NAME)) ? withName : without }));
}

function serverArgs(pki: Pki, clientAuth: boolean, legacy = false): string[] {
  return [
    '-cert', pki.nodeEc.cert, '-key', pki.nodeEc.key, '-cert_chain', pki.inter,
    ...(legacy ? ['-min_protocol', 'TLSv1', '-cipher', 'ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES128-GCM-SHA256:@SECLEVEL=0'] : ['-cipher', 'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384']),
    ...(clientAuth ? ['-CAfile', pki.root, '-Verify', '3', '-verify_return_error', '-crl_check', '-CRL', pki.crl] : []),
  ];
}

function inputs(pki: Pki, host: string, port: number) {
  return {
    endpoint: { host, port, serverName: NAME },
    caPem: read(pki.root),
    clientCertPem: read(pki.client.chain), clientKeyPem: read(pki.client.key),
    clientCaCertPem: read(pki.inter), clientCaKeyPem: read(pki.interKey),
    timeoutMs: 5000, settleMs: 500,
  };
}

t.test('a node that asks no client certificate of connections without SNI fails refuses-no-client-cert', peerOption('openssl'), async (t) => {
  const host = '127.64.0.1';
  const pki = await makePki(tempDir(t), host);
  const strict = await startSServer(t, host, serverArgs(pki, true));
  const lax = await startSServer(t, host, serverArgs(pki, false));
  const port = await sniFront(t, host, strict.port, lax.port);
  const { report, evidence: e } = await runTlsNode(inputs(pki, host, port));
  t.equal(e.clientAuth.noCert.outcome.accepted, false, 'with SNI, no certificate is refused');
  t.equal(e.clientAuth.noCertNoSni?.outcome.accepted, true, 'without SNI, no certificate is accepted');
  const r = row(report, 'tls-node:refuses-no-client-cert');
  t.equal(r.status, 'fail', 'refuses-no-client-cert');
  t.match(r.evidence, /without SNI/);
  t.equal(report.conformant, false);
});

t.test('a node whose default virtual host (no SNI) still speaks TLS 1.0 fails legacy-versions-refused', peerOption('openssl'), async (t) => {
  const host = '127.64.0.4';
  const pki = await makePki(tempDir(t), host);
  const strict = await startSServer(t, host, serverArgs(pki, true));
  const legacy = await startSServer(t, host, serverArgs(pki, true, true));
  const port = await sniFront(t, host, strict.port, legacy.port);
  const { report, evidence: e } = await runTlsNode(inputs(pki, host, port));
  t.equal(e.versions.TLSv1.accepted, false, 'with SNI, TLS 1.0 is refused');
  t.equal(e.legacyWithoutSni?.TLSv1?.accepted, true, 'without SNI, TLS 1.0 is accepted');
  const r = row(report, 'tls-node:legacy-versions-refused');
  t.equal(r.status, 'fail', 'legacy-versions-refused');
  t.match(r.evidence, /accepted TLSv1, TLSv1\.1 from a client sending no SNI/);
  t.equal(row(report, 'tls-node:refuses-no-client-cert').status, 'pass', 'its client-certificate policy is the same either way');
});

t.test('a node that refuses a client without a certificate with and without SNI still passes', peerOption('openssl'), async (t) => {
  const host = '127.64.0.2';
  const pki = await makePki(tempDir(t), host);
  const strict = await startSServer(t, host, serverArgs(pki, true));
  const { report, evidence: e } = await runTlsNode(inputs(pki, host, strict.port));
  t.equal(e.clientAuth.noCertNoSni?.outcome.accepted, false, 'the probe without SNI ran and was refused');
  t.equal(e.legacyWithoutSni?.TLSv1?.accepted, false, 'TLS 1.0 without SNI was probed and refused');
  t.equal(row(report, 'tls-node:legacy-versions-refused').status, 'pass');
  const r = row(report, 'tls-node:refuses-no-client-cert');
  t.equal(r.status, 'pass', r.evidence);
  t.match(r.evidence, /without SNI/);
});

t.test('without --name there is no SNI to leave out: no extra probe', peerOption('openssl'), async (t) => {
  const host = '127.64.0.3';
  const pki = await makePki(tempDir(t), host);
  const strict = await startSServer(t, host, serverArgs(pki, true));
  const { report, evidence: e } = await runTlsNode({ ...inputs(pki, host, strict.port), endpoint: { host, port: strict.port } });
  t.equal(e.clientAuth.noCertNoSni, undefined);
  t.equal(e.legacyWithoutSni, undefined);
  t.equal(row(report, 'tls-node:refuses-no-client-cert').status, 'pass');
});
