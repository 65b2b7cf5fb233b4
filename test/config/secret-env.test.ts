/**
 * Programs under test (an ACME client in `wardgate conformance`, a `--spawn` target in `wardgate fuzz`) are
 * vendors' code, started from the shell where the README has the admin export WARDGATE_CA_PASSPHRASE. They
 * must not inherit wardgate's secrets: a client that prints its environment would put the CA passphrase
 * into the conformance report, which quotes the client's output. Real child processes, real environments.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { SECRET_ENV_VARS, withoutSecrets } from '../../src/config/secret-env.ts';
import { clientEnv, runClient } from '../../src/conformance/acme-client/client-command.ts';
import { SpawnTarget } from '../../src/fuzz/target.ts';
import { freePort } from '../../src/net/free-port.ts';
import { tempDir } from '../helpers/tmp.ts';

const SECRETS: Record<string, string> = {
  WARDGATE_CA_PASSPHRASE: 'ca-passphrase-7f3a',
  WARDGATE_BACKUP_PASSPHRASE: 'backup-passphrase-91c2',
  WARDGATE_P12_PASSWORD: 'p12-password-55e0',
};

/** Sets the secrets in this process's environment for one test, as the admin's shell would. */
function exportSecrets(t: { teardown: (fn: () => void) => void }): void {
  const before = Object.fromEntries(Object.keys(SECRETS).map((k) => [k, process.env[k]]));
  Object.assign(process.env, SECRETS);
  t.teardown(() => {
    for (const [k, v] of Object.entries(before)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
}

const PRINT_ENV = `for (const k of ${JSON.stringify(Object.keys(SECRETS))}) console.log(k + '=' + (process.env[k] ?? 'unset'));`;

t.test('withoutSecrets drops exactly the secret variables and leaves its input alone', async (t) => {
  const env: NodeJS.ProcessEnv = { ...SECRETS, PATH: '/usr/bin', WARDGATE_DATA_DIR: '/var/lib/wardgate' };
  t.same(withoutSecrets(env), { PATH: '/usr/bin', WARDGATE_DATA_DIR: '/var/lib/wardgate' });
  t.equal(env.WARDGATE_CA_PASSPHRASE, SECRETS.WARDGATE_CA_PASSPHRASE);
  t.same([...SECRET_ENV_VARS].sort(), Object.keys(SECRETS).sort());
});

t.test('conformance: the ACME client under test sees none of the secrets, but its WARDGATE_* context', async (t) => {
  exportSecrets(t);
  const stateDir = tempDir(t);
  const env = clientEnv({
    directoryUrl: 'https://127.48.0.1:1/acme/directory', rootPemPath: join(stateDir, 'root.pem'), cacertsUrl: 'http://127.48.0.1:2/.well-known/est/cacerts',
    http01Port: 5002, tlsAlpn01Port: 5001, deviceAddress: '127.48.0.2', deviceName: 'dev.wardgate.test', stateDir, phase: 'enroll',
  });
  const script = `${PRINT_ENV} console.log('dir=' + process.env.WARDGATE_ACME_DIRECTORY);`;
  const r = await runClient([process.execPath, '-e', script], env, 10_000, stateDir);
  t.equal(r.exitCode, 0, r.outputTail);
  for (const [k, v] of Object.entries(SECRETS)) {
    t.notMatch(r.outputTail, v, `${k} does not reach the client`);
    t.match(r.outputTail, `${k}=unset`);
  }
  t.match(r.outputTail, 'dir=https://127.48.0.1:1/acme/directory');
  t.equal(process.env.WARDGATE_CA_PASSPHRASE, SECRETS.WARDGATE_CA_PASSPHRASE, 'the kit itself keeps its environment');
});

t.test('fuzz --spawn: the target process sees none of the secrets', async (t) => {
  exportSecrets(t);
  const dir = tempDir(t);
  const host = '127.48.0.3';
  const port = await freePort(host);
  const seen = join(dir, 'env.txt');
  const target = join(dir, 'target.mjs');
  writeFileSync(target, `import { writeFileSync } from 'node:fs';
import net from 'node:net';
const lines = [];
const console = { log: (l) => lines.push(l) };
${PRINT_ENV}
writeFileSync(${JSON.stringify(seen)}, lines.join('\\n'));
net.createServer((s) => s.destroy()).listen(${port}, ${JSON.stringify(host)});
`);
  const spawned = new SpawnTarget('dicom', { host, port }, `${JSON.stringify(process.execPath)} ${JSON.stringify(target)}`, dir);
  await spawned.start();
  t.teardown(() => spawned.stop());
  const text = readFileSync(seen, 'utf8');
  for (const [k, v] of Object.entries(SECRETS)) {
    t.notMatch(text, v, `${k} does not reach the target`);
    t.match(text, `${k}=unset`);
  }
});
