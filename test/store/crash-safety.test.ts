import t from 'tap';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CertificateAuthority } from '../../src/pki/ca.ts';
import { verifyAuditChain } from '../../src/store/audit-chain.ts';
import { testCa, TEST_PASSPHRASE } from '../helpers/ca.ts';

const loop = fileURLToPath(new URL('../helpers/issue-loop.ts', import.meta.url));

t.test('SIGKILL during a run of 1,000 issuances loses no reported certificate', async (t) => {
  const { ca, dir } = await testCa(t);
  ca.close();
  const child = spawn(process.execPath, ['--import', 'tsx', loop, dir, '1000'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const reported: string[] = [];
  let buffered = '';
  const killAt = 150 + Math.floor(Math.random() * 300);
  const exit = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    reported.push(...lines);
    if (reported.length >= killAt) child.kill('SIGKILL');
  });
  const signal = await exit;
  t.equal(signal, 'SIGKILL', `the child was killed mid-run after ${reported.length} reported issuances`);
  t.ok(reported.length >= killAt && reported.length < 1000, 'killed before it finished');

  const reopened = await CertificateAuthority.open(dir, { passphrase: TEST_PASSPHRASE });
  t.teardown(() => reopened.close());
  reopened.store.checkIntegrity();
  t.pass('the store opens and passes its integrity check');
  const missing = reported.filter((s) => !reopened.store.getCertificate(s));
  t.same(missing, [], 'every serial the child reported is stored');
  const all = reopened.store.listCertificates({ limit: 10_000 }).map((c) => c.serial);
  t.equal(new Set(all).size, all.length, 'no serial twice');
  t.ok(all.length >= reported.length && all.length <= reported.length + 1, 'at most the one in flight when killed is extra');
  const chain = verifyAuditChain(reopened.store.readAudit(0, 1_000_000), reopened.store.auditHead());
  t.equal(chain.entries, all.length + 1, 'the audit chain verifies: ca.init plus one entry per stored certificate');
});
