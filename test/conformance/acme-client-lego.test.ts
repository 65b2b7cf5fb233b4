/**
 * lego (Go, Debian package) as the device under test. Its verdicts follow from lego 4.x's documented
 * behaviour: it retries badNonce (with the nonce of the error response), reads with POST-as-GET, makes
 * a new key per certificate unless `renew --reuse-key`, polls a processing order every 500 ms whatever
 * Retry-After says, gives up on orderNotReady, refuses an unknown server certificate, and has no ARI.
 */
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { tempDir } from '../helpers/tmp.ts';
import { expectVerdicts, requireBins, runKit, skipUnless } from './fixtures/acme-kit.ts';

const BINS = ['lego', 'pebble-challtestsrv'];
const lego = (extra: string[]) => ['lego', '--server', '{directory}', '--email', 'lego@conformance.test', '--accept-tos', '--path', '{stateDir}/lego', '-d', '{name}', ...extra];

t.test('lego over http-01 with EAB: new key on renewal, no ARI claimed', { skip: skipUnless(...BINS) }, async (t) => {
  if (!requireBins(t, ...BINS)) return;
  const http = ['--eab', '--kid', '{eabKid}', '--hmac', '{eabHmac}', '--http', '--http.port', '{deviceIp}:{http01Port}'];
  const report = await runKit(t, {
    command: lego([...http, 'run']), renewCommand: lego([...http, 'renew', '--no-random-sleep']), claims: ['http-01', 'EAB'],
    serverAddress: '127.62.3.1', deviceAddress: '127.62.3.2',
  });
  expectVerdicts(t, report, {
    'ICM-GEN-005': 'pass', 'ICM-ENR-001': 'pass', 'ICM-ENR-002': 'pass', 'ICM-ENR-003': 'pass', 'ICM-ENR-004': 'pass',
    'ICM-ENR-005': 'pass', 'ICM-ENR-006': 'pass', 'ICM-ENR-007': 'pass', 'ICM-ENR-008': 'pass',
    'ICM-ENR-009': 'fail', // polls the processing order every 500 ms although Retry-After says 2 s
    'ICM-ENR-010': 'fail', // gives up on orderNotReady
    'ICM-ENR-011': 'pass', 'ICM-ENR-012': 'not-applicable', 'ICM-ENR-013': 'not-applicable', 'ICM-ENR-014': 'not-applicable',
    'ICM-REN-001': 'pass', // `lego renew` renews with less than 30 days left
    'ICM-REN-002': 'pass', 'ICM-REN-003': 'not-applicable', 'ICM-REN-004': 'not-applicable', 'ICM-REN-005': 'not-applicable', 'ICM-REN-006': 'not-applicable',
    'ICM-TA-004': 'fail', // SHOULD: lego never fetches trust anchors
  });
  t.match(report.rows.find((r) => r.id === 'ICM-ENR-002')?.evidence, /certificate alert \(bad_certificate \(42\)\)/, 'Go crypto/tls refuses with bad_certificate');
  t.notOk(report.conformant);
});

t.test('lego renew --reuse-key over tls-alpn-01, claiming ARI it does not speak', { skip: skipUnless(...BINS) }, async (t) => {
  if (!requireBins(t, ...BINS)) return;
  const tls = ['--tls', '--tls.port', '{deviceIp}:{tlsAlpn01Port}'];
  const report = await runKit(t, {
    command: lego([...tls, 'run']), renewCommand: lego([...tls, 'renew', '--no-random-sleep', '--reuse-key']), claims: ['tls-alpn-01', 'ARI'],
    phases: ['enroll', 'renew'], serverAddress: '127.62.4.1', deviceAddress: '127.62.4.2',
  });
  expectVerdicts(t, report, {
    'ICM-GEN-005': 'pass', 'ICM-ENR-011': 'not-applicable', 'ICM-ENR-012': 'pass',
    'ICM-REN-001': 'not-applicable',
    'ICM-REN-002': 'fail', // --reuse-key
    'ICM-REN-003': 'fail', 'ICM-REN-004': 'fail', 'ICM-REN-005': 'fail', 'ICM-REN-006': 'fail',
  });
});

t.test('lego over dns-01 through the kit\'s DNS server (enroll only)', { skip: skipUnless(...BINS) }, async (t) => {
  if (!requireBins(t, ...BINS)) return;
  const hook = join(tempDir(t), 'dns-exec.sh');
  writeFileSync(hook, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(fileURLToPath(new URL('./fixtures/dns-exec-hook.mjs', import.meta.url)))} "$@"\n`);
  chmodSync(hook, 0o755);
  const report = await runKit(t, {
    // lego's exec provider reads its settings from the environment; `env` sets them for this command only.
    command: ['env', `EXEC_PATH=${hook}`, 'EXEC_PROPAGATION_TIMEOUT=20', 'EXEC_POLLING_INTERVAL=1', ...lego(['--dns', 'exec', '--dns.resolvers', '{dnsResolver}', '--dns.disable-cp', 'run'])],
    claims: ['dns-01'], phases: ['enroll'], serverAddress: '127.62.7.1', deviceAddress: '127.62.7.2',
  });
  expectVerdicts(t, report, { 'ICM-GEN-005': 'pass', 'ICM-ENR-013': 'pass', 'ICM-ENR-011': 'not-applicable', 'ICM-REN-002': 'inconclusive' });
});
