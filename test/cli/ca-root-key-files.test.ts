/**
 * The files around the offline root key: `ca root-offline --out` never writes through or over anything
 * already at FILE (a dangling symlink included), and `ca rollover --root-key` warns once when the key it
 * is given is not encrypted, with advice that really encrypts it the way root-offline does.
 */
import t from 'tap';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { wardgate } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { openssl } from '../helpers/openssl.ts';

const PASSPHRASE = 'root-key-files-passphrase-Vn4';
const env = { WARDGATE_CA_PASSPHRASE: PASSPHRASE };

function initCa(work: string): string {
  const dir = join(work, 'data');
  const init = wardgate(['init', '-d', dir, '--name', 'Root Files Klinikum', '--permit-dns', 'files.internal', '--root-key-type', 'ecdsa-p256', '--rsa-key-type', 'rsa-2048'], env);
  if (init.status !== 0) throw new Error(`init failed: ${init.stderr}`);
  return dir;
}

const rootKeys = (dir: string) => readdirSync(join(dir, 'ca', 'keys')).filter((f) => f.startsWith('root'));

t.test('root-offline --out refuses anything already at FILE, a dangling symlink too, and leaves nothing behind', async (t) => {
  const work = tempDir(t);
  const dir = initCa(work);
  const out = join(work, 'out');
  const elsewhere = join(work, 'elsewhere');
  mkdirSync(out);
  mkdirSync(elsewhere);

  const planted = join(elsewhere, 'planted-root.pem');
  const dangling = join(out, 'root.pem');
  symlinkSync(planted, dangling);
  const regular = join(out, 'existing.pem');
  writeFileSync(regular, 'keep me\n');
  const linkToFile = join(out, 'link-to-file.pem');
  symlinkSync(regular, linkToFile);

  for (const [what, file] of [['a dangling symlink', dangling], ['a regular file', regular], ['a symlink to a file', linkToFile]] as const) {
    const r = wardgate(['ca', 'root-offline', '-d', dir, '--out', file], env);
    t.equal(r.status, 2, `${what}: refused as a usage error`);
    t.match(r.stderr, /^wardgate: error \[CLI_ARGUMENT\]: [^\n]* exists; refusing to overwrite it\n$/, `${what}: one line`);
    t.same(rootKeys(dir).length, 1, `${what}: the root key is still in the data dir`);
  }
  t.notOk(existsSync(planted), 'nothing was written where the dangling symlink points');
  t.equal(readlinkSync(dangling), planted, 'the dangling symlink is untouched');
  t.ok(lstatSync(linkToFile).isSymbolicLink(), 'the symlink to a file is still a symlink');
  t.equal(readFileSync(regular, 'utf8'), 'keep me\n', 'the existing file keeps its content');
  t.same(readdirSync(out).sort(), ['existing.pem', 'link-to-file.pem', 'root.pem'], 'no temporary file left in the --out directory');
  t.same(readdirSync(elsewhere), [], 'nothing created where the symlink points');

  const fresh = join(out, 'fresh.pem');
  const ok = wardgate(['ca', 'root-offline', '-d', dir, '--out', fresh], env);
  t.equal(ok.status, 0, `a new file is written ${ok.stderr}`);
  t.equal(lstatSync(fresh).mode & 0o777, 0o600, 'mode 0600');
  t.match(readFileSync(fresh, 'utf8'), /^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/, 'encrypted, as before');
  t.same(rootKeys(dir), [], 'and the root key left the data dir');
});

t.test('rollover --root-key warns once about an unencrypted key, and the advised command silences it', async (t) => {
  const work = tempDir(t);
  const dir = initCa(work);
  const exported = join(work, 'root-offline.pem');
  t.equal(wardgate(['ca', 'root-offline', '-d', dir, '--out', exported], env).status, 0, 'root-offline');

  const plain = join(work, 'root-plain.pem');
  writeFileSync(plain, openssl(['pkcs8', '-topk8', '-nocrypt', '-in', exported, '-passin', `pass:${PASSPHRASE}`]), { mode: 0o600 });
  const warned = wardgate(['ca', 'rollover', '-d', dir, '--kind', 'ecdsa', '--root-key', plain], env);
  t.equal(warned.status, 0, `a plaintext root key still works ${warned.stderr}`);
  const lines = warned.stderr.split('\n').filter(Boolean);
  t.equal(lines.length, 1, 'exactly one stderr line');
  t.match(lines[0], /^wardgate: warning: --root-key \S+root-plain\.pem is not encrypted; .*openssl pkcs8 -topk8 -v2 aes-256-cbc -iter 600000 -in \S+ -out \S+/, 'names the file and the command');
  t.match(warned.stdout, /new ecdsa issuing intermediate/, 'the rollover went on');

  // Run the advice as printed (with the passphrase supplied the way an admin would type it).
  const command = /(openssl pkcs8 [^(]+?) \(/.exec(lines[0])![1].split(' ');
  openssl([...command.slice(1), '-passout', `pass:${PASSPHRASE}`]);
  const encrypted = `${plain}.enc`;
  t.match(readFileSync(encrypted, 'utf8'), /^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/, 'the advice yields an encrypted PKCS#8 key');
  const quiet = wardgate(['ca', 'rollover', '-d', dir, '--kind', 'ecdsa', '--root-key', encrypted], env);
  t.equal(quiet.status, 0, `the encrypted key opens with the CA passphrase ${quiet.stderr}`);
  t.equal(quiet.stderr, '', 'no warning for an encrypted key');

  const fromRootOffline = wardgate(['ca', 'rollover', '-d', dir, '--kind', 'ecdsa', '--root-key', exported], env);
  t.equal(fromRootOffline.status, 0, 'the file root-offline wrote still works');
  t.equal(fromRootOffline.stderr, '', 'and draws no warning');
});
