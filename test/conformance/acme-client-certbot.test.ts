/**
 * certbot (Python, Debian package) in standalone mode as the device under test: `certonly` to enroll,
 * `renew` for the renewal phases (kit certificates are due at once, so certbot renews on its own rules:
 * less than 30 days left). certbot makes a new key per renewal by default, retries badNonce once with
 * the error's nonce, and trusts only REQUESTS_CA_BUNDLE, which the kit sets to the test root.
 */
import t from 'tap';
import { expectVerdicts, requireBins, runKit, skipUnless } from './fixtures/acme-kit.ts';

const BINS = ['certbot', 'pebble-challtestsrv'];
const dirs = ['--config-dir', '{stateDir}/certbot/config', '--work-dir', '{stateDir}/certbot/work', '--logs-dir', '{stateDir}/certbot/logs', '--non-interactive'];

t.test('certbot standalone over http-01', { skip: skipUnless(...BINS) }, async (t) => {
  if (!requireBins(t, ...BINS)) return;
  const report = await runKit(t, {
    command: ['certbot', 'certonly', '--standalone', '--http-01-address', '{deviceIp}', '--http-01-port', '{http01Port}', '--server', '{directory}',
      '--agree-tos', '-m', 'certbot@conformance.test', '-d', '{name}', ...dirs],
    renewCommand: ['certbot', 'renew', '--no-random-sleep-on-renew', ...dirs],
    claims: ['http-01'], serverAddress: '127.62.5.1', deviceAddress: '127.62.5.2',
  });
  expectVerdicts(t, report, {
    'ICM-GEN-005': 'pass', 'ICM-ENR-001': 'pass', 'ICM-ENR-002': 'pass',
    // certbot 2.1 retries badNonce once with a nonce from a new HEAD newNonce (acme's ClientV2._post_once
    // raises before it keeps the error's Replay-Nonce): a fresh nonce, which ICM-ENR-003 accepts.
    'ICM-ENR-003': 'pass',
    'ICM-ENR-004': 'pass', 'ICM-ENR-005': 'pass', 'ICM-ENR-007': 'pass', 'ICM-ENR-008': 'pass',
    'ICM-ENR-009': 'fail', // polls every second whatever Retry-After says
    'ICM-ENR-010': 'fail', // gives up on orderNotReady
    'ICM-ENR-011': 'pass', 'ICM-ENR-012': 'not-applicable',
    'ICM-REN-001': 'pass', // `certbot renew` renews with less than 30 days left
    'ICM-REN-002': 'pass', // a new key per renewal unless --reuse-key
    'ICM-REN-004': 'not-applicable', 'ICM-TA-004': 'fail',
  });
  t.match(report.rows.find((r) => r.id === 'ICM-ENR-002')?.evidence, /certificate alert \(unknown_ca \(48\)\)/, 'OpenSSL (Python) refuses with unknown_ca');
  t.notOk(report.conformant);
});
