import t from 'tap';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { backupAndRestore, wardgate } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { makeCsr, verifyChain } from '../helpers/openssl.ts';

const env = { WARDGATE_CA_PASSPHRASE: 'lifecycle-pass' };

t.test('root-offline, rollover with the exported key, backup and restore through the CLI', async (t) => {
  const work = tempDir(t);
  const dir = join(work, 'data');
  t.equal(wardgate(['init', '-d', dir, '--name', 'L', '--permit-dns', 'klinikum.internal', '--root-key-type', 'ecdsa-p384', '--rsa-key-type', 'rsa-2048'], env).status, 0);
  const { csr } = makeCsr(work, 'old', { cn: 'old.klinikum.internal' });
  t.equal(wardgate(['issue', '-d', dir, '--csr', csr, '--out', join(work, 'old.pem')], env).status, 0);

  const rootKey = join(work, 'root-key.pem');
  const off = wardgate(['ca', 'root-offline', '-d', dir, '--out', rootKey], env);
  t.equal(off.status, 0, off.stderr);
  t.match(readFileSync(rootKey, 'utf8'), /BEGIN ENCRYPTED PRIVATE KEY/, 'exported root key is still encrypted');
  t.equal(statSync(rootKey).mode & 0o777, 0o600);
  t.notOk(existsSync(join(dir, 'ca', 'keys', 'root.key.pem')), 'root key gone from the data dir');

  const noKey = wardgate(['ca', 'rollover', '-d', dir], env);
  t.equal(noKey.status, 1);
  t.match(noKey.stderr, /^wardgate: error \[ROOT_KEY_OFFLINE\]/);
  const roll = wardgate(['ca', 'rollover', '-d', dir, '--root-key', rootKey], env);
  t.equal(roll.status, 0, roll.stderr);
  const { csr: csr2 } = makeCsr(work, 'new', { cn: 'new.klinikum.internal' });
  t.equal(wardgate(['issue', '-d', dir, '--csr', csr2, '--out', join(work, 'new.pem')], env).status, 0);
  const root = readFileSync(join(dir, 'ca', 'root.pem'), 'utf8');
  for (const f of ['old.pem', 'new.pem']) {
    const [leaf, mid] = readFileSync(join(work, f), 'utf8').split(/(?<=-----END CERTIFICATE-----\n)/);
    t.ok(verifyChain(root, mid, leaf, work).ok, `${f} still verifies after the rollover`);
  }
  t.not(readFileSync(join(work, 'old.pem'), 'utf8').split('-----END CERTIFICATE-----')[1], readFileSync(join(work, 'new.pem'), 'utf8').split('-----END CERTIFICATE-----')[1], 'new leaves come from the new intermediate');

  const target = join(work, 'restored');
  const archive = join(work, 'b.wgb');
  const { backup: b, restore: r } = backupAndRestore(dir, archive, target, env);
  t.equal(b.status, 0, b.stderr);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /audit chain of \d+ entries verifies/);
  const { csr: csr3 } = makeCsr(work, 'after', { cn: 'after.klinikum.internal' });
  t.equal(wardgate(['issue', '-d', target, '--csr', csr3, '--out', join(work, 'after.pem')], env).status, 0, 'the restored CA issues');
  const list = JSON.parse(wardgate(['list', '-d', target, '--json'], env).stdout);
  t.equal(list.length, 3, 'both earlier certificates and the new one');
  const again = wardgate(['restore', '-d', target, '--from', archive], env);
  t.match(again.stderr, /^wardgate: error \[DATA_DIR_EXISTS\]/, 'restore never overwrites');
  t.match(wardgate(['audit', 'verify', '-d', target], env).stdout, /audit log intact/);
});
