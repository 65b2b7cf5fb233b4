/**
 * `conformance tls-node` against wardgate's own gateway: an inbound DICOM route started through the real
 * CLI (`wardgate proxy inbound ...`) with its default TLS profile (BCP 195 non-downgrading), mutual TLS
 * required and the issuing CA's CRL given with --crl. The gateway must pass every check it is judged by.
 */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { runTlsNode, type Report } from '../../src/conformance/index.ts';
import { freeLoopbackPort, spawnPeer } from '../protocols/fixtures/helpers.ts';
import { BIN } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { makePki } from './fixtures/pki.ts';
import { startHoldingBackend, waitListening } from './fixtures/servers.ts';

const read = (f: string) => readFileSync(f, 'utf8');

t.test('the gateway inbound route passes the TLS node checks (BCP 195, chain, client certificates)', async (t) => {
  const host = '127.30.0.40';
  const dir = tempDir(t);
  const pki = await makePki(dir, host);
  const backend = await startHoldingBackend(t, host);
  const port = await freeLoopbackPort();
  const gw = spawnPeer(t, process.execPath, [BIN, 'proxy', 'inbound', '--protocol', 'dicom', '--listen', `${host}:${port}`, '--upstream', `${host}:${backend}`,
    '--cert', pki.nodeEc.chain, '--key', pki.nodeEc.key, '--ca', pki.root, '--client-auth', 'required', '--crl', pki.crl]);
  // A cold CLI start (tsx compiles the gateway's modules) can take well over 10 s on a loaded CI machine.
  await waitListening(host, port, gw, 'wardgate proxy inbound', 60_000);
  const { report }: { report: Report } = await runTlsNode({
    endpoint: { host, port }, caPem: read(pki.root),
    clientCertPem: read(pki.client.chain), clientKeyPem: read(pki.client.key),
    clientCaCertPem: read(pki.inter), clientCaKeyPem: read(pki.interKey),
    revokedCertPem: read(pki.revokedClient.chain), revokedKeyPem: read(pki.revokedClient.key),
    timeoutMs: 5000, settleMs: 500,
  });
  const byId = Object.fromEntries(report.rows.map((r) => [r.id, r]));
  for (const row of report.rows) t.comment(`${row.id} ${row.status}: ${row.evidence.slice(0, 160)}`);
  const failing = report.rows.filter((r) => r.status === 'fail').map((r) => r.id);
  t.same(failing, [], 'no requirement fails');
  t.equal(byId['ICM-CHK-001']?.status, 'pass', `revoked client certificate refused: ${byId['ICM-CHK-001']?.evidence.slice(0, 200)}`);
  for (const id of ['ICM-TLS-001', 'ICM-TLS-002', 'ICM-TLS-003', 'ICM-TLS-004', 'ICM-TLS-005', 'ICM-TLS-006']) {
    t.equal(byId[id]?.status, 'pass', `${id}: ${byId[id]?.evidence.slice(0, 200)}`);
  }
});
