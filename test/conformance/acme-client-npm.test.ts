/**
 * The npm acme-client (v5, in node_modules) as the device under test, driven by a small script
 * (fixtures/npm-acme-client.mjs) that uses auto() as its README shows. It orders `dns` identifiers only
 * (auto() never orders "ip"), makes a new key per certificate, and has no ARI. Against the foreign server
 * certificate it retries the TLS connection with growing delays for over a minute, so each run is cut
 * at 25 s: the verdict only needs the refused handshakes.
 */
import t from 'tap';
import { expectVerdicts, npmAcmeClientCommand, requireBins, runKit, skipUnless } from './fixtures/acme-kit.ts';

t.test('npm acme-client auto() over http-01', { skip: skipUnless('pebble-challtestsrv') }, async (t) => {
  if (!requireBins(t, 'pebble-challtestsrv')) return;
  const report = await runKit(t, { command: npmAcmeClientCommand(), claims: ['http-01'], serverAddress: '127.62.6.1', deviceAddress: '127.62.6.2', timeoutMs: 25_000 });
  expectVerdicts(t, report, {
    'ICM-GEN-005': 'pass', 'ICM-ENR-001': 'pass', 'ICM-ENR-002': 'pass',
    'ICM-ENR-003': 'pass', // maxBadNonceRetries, with the nonce of the error response
    'ICM-ENR-004': 'pass', 'ICM-ENR-005': 'pass', 'ICM-ENR-006': 'not-applicable', 'ICM-ENR-007': 'pass', 'ICM-ENR-008': 'pass',
    'ICM-ENR-009': 'fail', // polls the challenge on its own backoff (backoffMin), not Retry-After
    'ICM-ENR-010': 'fail', // auto() throws on orderNotReady
    'ICM-ENR-011': 'pass', 'ICM-ENR-014': 'not-applicable',
    'ICM-REN-001': 'pass', 'ICM-REN-002': 'pass', 'ICM-REN-003': 'not-applicable', 'ICM-REN-004': 'not-applicable', 'ICM-REN-006': 'not-applicable',
    'ICM-TA-004': 'fail',
  });
  // Node's https client checks the certificate after OpenSSL's handshake and drops the socket without an alert.
  t.match(report.rows.find((r) => r.id === 'ICM-ENR-002')?.evidence, /without an alert after receiving the server's certificate flight/);
});
