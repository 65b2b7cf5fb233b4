/**
 * Small data-dir defects, through the real CLI: a store left readable by others by an older wardgate,
 * backups written into the data dir they back up, and file arguments of the key-handling commands that
 * name a missing file or directory.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, copyFileSync, existsSync, readdirSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { wardgate } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { freePort } from '../interop/fixtures/peers.ts';
import { spawnServe } from '../interop/fixtures/serve-process.ts';
import { TEST_PASSPHRASE } from '../helpers/ca.ts';

const env = { WARDGATE_CA_PASSPHRASE: TEST_PASSPHRASE };
const ONE_LINE = (code: string, message: RegExp) => new RegExp(`^wardgate: error \\[${code}\\]: ${message.source}[^\\n]*\\n$`);

async function makeCa(t: Parameters<typeof tempDir>[0]): Promise<{ work: string; dir: string }> {
  const work = tempDir(t);
  const dir = join(work, 'data');
  const init = wardgate(['init', '-d', dir, '--name', 'Hygiene', '--permit-dns', 'klinikum.internal', '--permit-ip', '127.0.0.0/8', '--root-key-type', 'ecdsa-p384', '--rsa-key-type', 'rsa-2048'], env);
  if (init.status !== 0) throw new Error(init.stderr);
  return { work, dir };
}

/** ca.json and the key files with mode and content hash, to prove that nothing was rewritten. */
function keyFiles(dir: string): Record<string, string> {
  const files = [join(dir, 'ca', 'ca.json'), ...readdirSync(join(dir, 'ca', 'keys')).map((f) => join(dir, 'ca', 'keys', f))];
  return Object.fromEntries(files.map((p) => [p, `${(statSync(p).mode & 0o777).toString(8)} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`]));
}

t.test('a store left 0644 by an older wardgate is made 0600 when opened, its -wal and -shm too', async (t) => {
  const { dir } = await makeCa(t);
  const store = join(dir, 'wardgate.db');
  chmodSync(store, 0o644);
  // An older wardgate killed while it had the store open: SQLite made -wal and -shm with the store's mode.
  const older = spawnSync(process.execPath, ['-e', `
    const db = new (require('better-sqlite3'))(${JSON.stringify(store)});
    db.prepare('SELECT count(*) FROM certificates').get();
    process.kill(process.pid, 'SIGKILL');`], { cwd: process.cwd() });
  t.equal(older.signal, 'SIGKILL');
  const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);
  t.same(['', '-wal', '-shm'].map((s) => mode(store + s)), ['644', '644', '644'], 'the state an older wardgate left');

  const list = wardgate(['list', '-d', dir], env);
  t.equal(list.status, 0, list.stderr);
  t.equal(list.stderr, '', 'nothing to report: the files were ours to change');
  t.equal(mode(store), '600', 'wardgate.db is 0600 after the first command opened it');

  const host = '127.30.4.5';
  const server = spawnServe(t, ['--data-dir', dir, '--listen', `${host}:${await freePort(host)}`, '--http-listen', `127.30.4.6:${await freePort('127.30.4.6')}`]);
  await server.ready;
  t.same(['', '-wal', '-shm'].map((s) => mode(store + s)), ['600', '600', '600'], 'a running serve: the store and its -wal and -shm are 0600');
});

t.test('a loose store this user may not change: the command works and says so in one line', async (t) => {
  // Making a file owned by another user needs root; the test host runs the suite as root (see .ci/run).
  t.equal(process.getuid?.(), 0, 'runs as root');
  const { dir } = await makeCa(t);
  const store = join(dir, 'wardgate.db');
  chmodSync(store, 0o644);
  chownSync(store, 65534, 65534);
  const list = wardgate(['list', '-d', dir], env);
  t.equal(list.status, 0, 'list still works');
  t.match(list.stderr, /^wardgate: warning: the store holds EAB keys but is readable by other users and could not be made private: \S+wardgate\.db \(0644, owned by uid 65534\); chmod 600 it as its owner\n$/, `one line: ${list.stderr.trim()}`);
  t.equal(statSync(store).mode & 0o777, 0o644, 'a file of another user is left as it is');
});

t.test('backup --out inside the data dir is refused; an archive an older wardgate left there is not packed again', async (t) => {
  const { work, dir } = await makeCa(t);
  symlinkSync(dir, join(work, 'link'));
  for (const out of [join(dir, 'b.wgb'), join(dir, 'ca', 'b.wgb'), join(work, 'link', 'b.wgb'), dir]) {
    const r = wardgate(['backup', '-d', dir, '--out', out], env);
    t.equal(r.status, 2, `--out ${out}: usage error`);
    t.match(r.stderr, ONE_LINE('CLI_ARGUMENT', /--out \S+ lies inside the data dir \S+/), `--out ${out}: ${r.stderr.trim()}`);
  }
  t.same(readdirSync(dir).sort(), ['ca', 'wardgate.db'], 'nothing written into the data dir');
  const missing = wardgate(['backup', '-d', dir, '--out', join(work, 'no-such-dir', 'b.wgb')], env);
  t.match(missing.stderr, ONE_LINE('CLI_ARGUMENT', /cannot write --out \S+b\.wgb: directory \S+no-such-dir does not exist/), 'a missing --out directory: one line');

  // What an older wardgate allowed: an archive inside the data dir, then more backups.
  const first = join(work, 'first.wgb');
  t.equal(wardgate(['backup', '-d', dir, '--out', first], env).status, 0);
  copyFileSync(first, join(dir, 'old-backup.wgb'));
  const next = join(work, 'next.wgb');
  const r = wardgate(['backup', '-d', dir, '--out', next], env);
  t.equal(r.status, 0, r.stderr);
  t.ok(statSync(next).size < statSync(first).size * 1.5, `the next archive did not grow by the old one (${statSync(first).size} -> ${statSync(next).size} bytes)`);
  const restored = join(work, 'restored');
  t.equal(wardgate(['restore', '-d', restored, '--from', next], env).status, 0);
  t.same(readdirSync(restored).sort(), ['ca', 'wardgate.db'], 'the old archive is not in it');
});

t.test('ca rollover --root-key naming a missing file or a directory, root-offline --out in a missing directory: one line naming it, nothing changed', async (t) => {
  const { work, dir } = await makeCa(t);
  const rootKey = join(work, 'root-key.pem');
  const typo = wardgate(['ca', 'root-offline', '-d', dir, '--out', join(work, 'no-such-dir', 'k.pem')], env);
  t.match(typo.stderr, ONE_LINE('CLI_ARGUMENT', /cannot write --out \S+k\.pem: directory \S+no-such-dir does not exist/), `root-offline --out in a missing directory: ${typo.stderr.trim()}`);
  t.ok(existsSync(join(dir, 'ca', 'keys', 'root.key.pem')), 'the root key is still in place');
  t.equal(wardgate(['ca', 'root-offline', '-d', dir, '--out', rootKey], env).status, 0);
  const before = keyFiles(dir);
  const cases: Array<[string, string, RegExp]> = [
    ['a missing file', join(work, 'no-such-key.pem'), /cannot read --root-key \S+no-such-key\.pem: ENOENT/],
    ['a directory', work, /cannot read --root-key \S+: EISDIR/],
  ];
  for (const [label, file, message] of cases) {
    const r = wardgate(['ca', 'rollover', '-d', dir, '--root-key', file], env);
    t.equal(r.status, 2, `${label}: usage error`);
    t.match(r.stderr, ONE_LINE('CLI_ARGUMENT', message), `${label}: ${r.stderr.trim()}`);
  }
  t.same(keyFiles(dir), before, 'no key or ca.json written');
  const ok = wardgate(['ca', 'rollover', '-d', dir, '--root-key', rootKey], env);
  t.equal(ok.status, 0, `the right file rolls over ${ok.stderr}`);
});
