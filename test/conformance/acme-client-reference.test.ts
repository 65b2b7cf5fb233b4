/**
 * The positive ARI case needs a client of our own (no installable client speaks RFC 9773 yet):
 * fixtures/reference-client.ts honours renewalInfo windows, sends `replaces`, refreshes trust anchors,
 * and recovers from every injected fault, so the kit must pass it on every judged requirement. The same
 * client told to ignore the window, while still claiming ARI, must fail ICM-REN-004, and with certificate
 * checking turned off it must fail ICM-ENR-002. Run through the CLI
 * once, to cover the command line, the JSON and HTML reports and the exit status.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { ExchangeRecord, Report } from '../../src/conformance/index.ts';
import { tempDir } from '../helpers/tmp.ts';
import { cliCommand, expectVerdicts, referenceCommand, requireBins, runKit, skipUnless } from './fixtures/acme-kit.ts';
import { DEFAULT_FAULT_PLAN } from '../../src/conformance/acme-client/fault-plan.ts';

function cli(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const [cmd, ...pre] = cliCommand();
  return new Promise((resolve) => {
    const child = spawn(cmd, [...pre, 'conformance', 'acme-client', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.once('close', (code) => resolve({ code, stderr }));
  });
}

t.test('reference client claiming ARI passes every judged requirement (CLI, JSON report)', { skip: skipUnless('pebble-challtestsrv') }, async (t) => {
  if (!requireBins(t, 'pebble-challtestsrv')) return;
  const dir = tempDir(t);
  const out = join(dir, 'report.json');
  const rec = join(dir, 'record.json');
  const r = await cli(['--claim', 'http-01', '--claim', 'ARI', '--claim', 'IP identifiers', '--server-address', '127.62.1.1', '--device-address', '127.62.1.2',
    '--out', out, '--record', rec, '--', ...referenceCommand()]);
  t.equal(r.code, 0, `exit 0 (no SHALL failed): ${r.stderr.slice(-500)}`);
  t.match(r.stderr, /acme-client .*: 18 pass, 0 fail, 4 not applicable, 1 inconclusive; 5 for manual assessment/);
  const report = JSON.parse(readFileSync(out, 'utf8')) as Report;
  t.equal(report.schema, 'wardgate.conformance.report/1');
  t.equal(report.kit, 'acme-client');
  t.ok(report.conformant);
  expectVerdicts(t, report, {
    'ICM-GEN-005': 'pass', 'ICM-ENR-001': 'pass', 'ICM-ENR-002': 'pass', 'ICM-ENR-003': 'pass', 'ICM-ENR-004': 'pass', 'ICM-ENR-005': 'pass',
    'ICM-ENR-006': 'not-applicable', 'ICM-ENR-007': 'pass', 'ICM-ENR-008': 'pass', 'ICM-ENR-009': 'pass', 'ICM-ENR-010': 'pass',
    'ICM-ENR-011': 'pass', 'ICM-ENR-012': 'not-applicable', 'ICM-ENR-013': 'not-applicable', 'ICM-ENR-014': 'pass',
    // Nothing failed, so there was nothing to back off from.
    'ICM-ENR-016': 'inconclusive',
    // Claims ARI: timing is judged against the window instead.
    'ICM-REN-001': 'not-applicable',
    'ICM-REN-002': 'pass', 'ICM-REN-003': 'pass', 'ICM-REN-004': 'pass', 'ICM-REN-005': 'pass', 'ICM-REN-006': 'pass', 'ICM-TA-004': 'pass',
  });
  t.equal(report.rows.length, 23, 'one row per requirement judged by the acme-client kit');
  t.same(report.manual.map((m) => m.id), ['ICM-ENR-015', 'ICM-ENR-017', 'ICM-REN-007', 'ICM-REN-009', 'ICM-REV-003'], 'manual Enrolling Node requirements listed for the assessor');
  const record = JSON.parse(readFileSync(rec, 'utf8')) as ExchangeRecord;
  t.same(record.phases, ['enroll', 'renew', 'order-not-ready', 'untrusted-server']);
  t.same(record.faults.map((f) => f.kind).filter((k, i, a) => a.indexOf(k) === i).sort(), ['ariWindow', 'badNonce', 'orderNotReady', 'retryAfter', 'untrustedServerCertificate']);
  const renewRuns = record.commands.filter((c) => c.phase === 'renew');
  t.ok(renewRuns.length >= 2, `the client declined to renew before the window opened, then renewed (${renewRuns.length} renew runs)`);
  t.match(renewRuns[0].outputTail, /not renewing: the suggested window opens/);
});

t.test('reference client ignoring the ARI window and server authentication fails ICM-REN-004 and ICM-ENR-002 (HTML report)', { skip: skipUnless('pebble-challtestsrv') }, async (t) => {
  if (!requireBins(t, 'pebble-challtestsrv')) return;
  const report = await runKit(t, {
    // NODE_TLS_REJECT_UNAUTHORIZED=0 turns off Node's certificate checking: a device that trusts any server.
    command: ['env', 'NODE_TLS_REJECT_UNAUTHORIZED=0', ...referenceCommand('--ignore-ari')], claims: ['http-01', 'ARI', 'IP identifiers'],
    phases: ['enroll', 'renew', 'untrusted-server'], serverAddress: '127.62.2.1', deviceAddress: '127.62.2.2',
    // The window is pulled forward later than by default (6 s): this client renews on its first renew
    // run, which has to start before the pull even when a loaded CI machine starts processes slowly.
    plan: { ari: { ...DEFAULT_FAULT_PLAN.ari, pullAfter: 20 } },
  });
  expectVerdicts(t, report, {
    'ICM-REN-003': 'fail', // never asked renewalInfo
    'ICM-REN-004': 'fail', // renewed before the window opened
    'ICM-REN-005': 'fail',
    'ICM-REN-006': 'pass', // still names the replaced certificate
    'ICM-ENR-002': 'fail', // talked to a server with a foreign certificate
    'ICM-ENR-010': 'inconclusive', // the order-not-ready phase was not run
  });
  t.notOk(report.conformant, 'a failed SHALL makes the report non-conformant');
  const { reportHtml } = await import('../../src/conformance/index.ts');
  const html = reportHtml(report);
  t.match(html, /<tr class="fail" id="ICM-REN-004">/);
  t.match(html, /before the suggested window opened/);
});
