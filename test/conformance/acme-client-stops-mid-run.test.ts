/**
 * `conformance acme-client` against a client that crashes or hangs mid-run: the kit still writes its
 * report, keeps the verdicts the recorded exchange supports, and says (report field, stderr, exit 4)
 * that the run was incomplete. A hung client is killed at --timeout. The test CA listens on 127.30.2.x.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { runAcmeClient, type Report } from '../../src/conformance/index.ts';
import { tempDir } from '../helpers/tmp.ts';
import { cliCommand, expectVerdicts, referenceCommand } from './fixtures/acme-kit.ts';

const quoted = (argv: string[]) => argv.map((a) => `'${a}'`).join(' ');

t.test('a client that crashes before its first order: report written, no SHALL failed on no evidence, CLI exit 4', async (t) => {
  const dir = tempDir(t);
  const out = join(dir, 'report.json');
  const [cmd, ...pre] = cliCommand();
  const child = spawn(cmd, [...pre, 'conformance', 'acme-client', '--claim', 'http-01', '--claim', 'IP identifiers',
    '--server-address', '127.30.2.10', '--device-address', '127.30.2.11', '--timeout', '20000', '--out', out,
    '--', 'sh', '-c', 'echo "segfault ahead"; kill -SEGV $$'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const code = await new Promise((resolve) => child.once('close', resolve));
  t.equal(code, 4, `exit 4: incomplete, no SHALL failed (${stderr.trim()})`);
  t.match(stderr, /\nincomplete run: run 1 of the client \(enroll\) died of SIGSEGV; phases renew, order-not-ready, untrusted-server did not run: the client obtained no certificate in the enroll phase\n/);
  const report = JSON.parse(readFileSync(out, 'utf8')) as Report;
  t.match(report.incomplete, /^run 1 of the client \(enroll\) died of SIGSEGV; /);
  t.ok(report.conformant, 'nothing observed, nothing failed');
  // Before: "the client claims IP identifiers but ordered none (no orders)", a SHALL failure on no evidence.
  expectVerdicts(t, report, { 'ICM-ENR-014': 'inconclusive', 'ICM-GEN-005': 'inconclusive', 'ICM-REN-001': 'inconclusive' });
  t.match(report.rows.find((r) => r.id === 'ICM-ENR-014')?.evidence, /the client created no order \(enroll run 1: exit SIGSEGV\)/);
  t.equal(report.summary.fail, 0);
});

t.test('a client that hangs after enrolling is killed at the timeout; the enroll verdicts stay and the report says incomplete', async (t) => {
  // The reference client enrolls (within the 20 s timeout even on a loaded machine: it waits 4 s for the
  // injected Retry-After faults); in the order-not-ready phase the same command hangs.
  const script = `if [ "$WARDGATE_CONFORMANCE_PHASE" = enroll ]; then exec ${quoted(referenceCommand())}; fi; echo "stuck"; sleep 120`;
  const started = Date.now();
  const { report, record } = await runAcmeClient({
    command: ['sh', '-c', script], claims: ['http-01', 'IP identifiers'], phases: ['enroll', 'order-not-ready'], timeoutMs: 20_000,
    serverAddress: '127.30.2.12', deviceAddress: '127.30.2.13', workDir: tempDir(t, 'wardgate-kit-'),
  });
  t.ok(Date.now() - started < 120_000, `the run ended (${Date.now() - started} ms)`);
  const hung = record.commands.find((c) => c.phase === 'order-not-ready');
  t.equal(hung?.timedOut, true, 'the hung run was cut off at the timeout');
  t.equal(hung?.signal, 'SIGKILL');
  t.match(hung?.outputTail, /stuck\n+\[conformance kit: killed after 20000 ms\]/);
  t.match(report.incomplete, /^run 2 of the client \(order-not-ready\) did not exit and was killed at the timeout after \d+ ms$/);
  expectVerdicts(t, report, {
    'ICM-GEN-005': 'pass', 'ICM-ENR-001': 'pass', 'ICM-ENR-003': 'pass', 'ICM-ENR-007': 'pass', 'ICM-ENR-011': 'pass', 'ICM-ENR-014': 'pass',
    'ICM-ENR-010': 'inconclusive', // the hung run never reached finalize, where orderNotReady is injected
  });
});
