/**
 * The conformance kit's DNS server (pebble-challtestsrv, another program whose stderr is quoted in kit
 * errors) starts without WARDGATE_CA_PASSPHRASE and the other secrets in its environment, like the
 * vendor's own client (config/secret-env.ts). It was started with the kit's full environment (found in
 * review). Read from /proc/PID/environ of the running child.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import t from 'tap';
import { DEFAULT_FAULT_PLAN } from '../../src/conformance/acme-client/fault-plan.ts';
import { findOnPath, startTestCa } from '../../src/conformance/acme-client/test-ca.ts';
import { tempDir } from '../helpers/tmp.ts';

t.test('pebble-challtestsrv gets no secrets', { skip: findOnPath('pebble-challtestsrv') || process.env.CI ? false : 'pebble-challtestsrv not installed (Debian package pebble); never skipped under CI' }, async (t) => {
  const saved = process.env.WARDGATE_CA_PASSPHRASE;
  process.env.WARDGATE_CA_PASSPHRASE = 'kit-secret-passphrase-xyz';
  t.teardown(() => { if (saved === undefined) delete process.env.WARDGATE_CA_PASSPHRASE; else process.env.WARDGATE_CA_PASSPHRASE = saved; });
  const ca = await startTestCa({ workDir: tempDir(t), serverAddress: '127.31.8.1', deviceAddress: '127.31.8.2', dnsSuffix: 'kit.wardgate.test', claims: [], plan: DEFAULT_FAULT_PLAN });
  t.teardown(() => ca.close());
  t.ok(ca.dns, 'the DNS server runs');
  const pids = execFileSync('pgrep', ['-P', String(process.pid), '-f', 'pebble-challtestsrv'], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  t.ok(pids.length >= 1, `pebble-challtestsrv is a child of this process (${pids.join(', ')})`);
  for (const pid of pids) {
    const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    t.notOk(env.some((e) => e.startsWith('WARDGATE_CA_PASSPHRASE=')), 'no WARDGATE_CA_PASSPHRASE in its environment');
    t.ok(env.some((e) => e.startsWith('PATH=')), 'the rest of the environment is kept');
  }
});
