/**
 * Restore of archives crafted (or damaged) by someone who knows the backup passphrase, and backups of data
 * dirs an admin rearranged: nothing lands outside the data dir or in the places the data dir's own machinery
 * acts on, keys come back 0600, an incomplete CA or keys the CA passphrase cannot open are refused before
 * anything moves into the data dir.
 */
import t from 'tap';
import { createCipheriv, createHmac, randomBytes, scryptSync } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createGzip, gzipSync } from 'node:zlib';
import { backupAndRestore, wardgate } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { TEST_PASSPHRASE } from '../helpers/ca.ts';

const env = { WARDGATE_CA_PASSPHRASE: TEST_PASSPHRASE };
const ONE_LINE = (code: string, message: RegExp) => new RegExp(`^wardgate: error \\[${code}\\]: ${message.source}[^\\n]*\\n$`);
const CA_FILES = ['ca/ca.json', 'ca/root.pem', 'ca/intermediate.pem', 'ca/intermediate-rsa.pem', 'ca/issuers/ecdsa-1.pem', 'ca/issuers/rsa-1.pem',
  'ca/keys/root.key.pem', 'ca/keys/ecdsa-1.key.pem', 'ca/keys/rsa-1.key.pem', 'wardgate.db'];

interface Entry { path: unknown; mode?: unknown; data: unknown }

/** Format 2 as src/store/backup-legacy.ts reads it, written independently: magic, salt, iv, length, key check, tag, body. */
function seal(plain: Buffer, passphrase = TEST_PASSPHRASE): Buffer {
  const magic = Buffer.from('WARDGATE-BACKUP-2\n');
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const k = scryptSync(passphrase, salt, 64, { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });
  const check = createHmac('sha256', k.subarray(32)).update('wardgate backup key check').digest().subarray(0, 16);
  const length = Buffer.alloc(8);
  length.writeBigUInt64BE(BigInt(plain.length));
  const aad = Buffer.concat([magic, salt, iv, length, check]);
  const cipher = createCipheriv('aes-256-gcm', k.subarray(0, 32), iv);
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plain), cipher.final()]);
  return Buffer.concat([aad, cipher.getAuthTag(), body]);
}

const pack = (files: Entry[], storeFile: unknown = 'wardgate.db') =>
  gzipSync(JSON.stringify({ format: 'wardgate-backup', version: 1, createdAt: new Date().toISOString(), storeFile, files }));

function makeCa(t: Parameters<typeof tempDir>[0]): { work: string; dir: string; entries: Entry[] } {
  const work = tempDir(t);
  const dir = join(work, 'data');
  const init = wardgate(['init', '-d', dir, '--name', 'Crafted', '--permit-dns', 'klinikum.internal', '--root-key-type', 'ecdsa-p384', '--rsa-key-type', 'rsa-2048'], env);
  if (init.status !== 0) throw new Error(init.stderr);
  const entries = CA_FILES.map((p) => ({ path: p, mode: statSync(join(dir, p)).mode & 0o777, data: readFileSync(join(dir, p)).toString('base64') }));
  return { work, dir, entries };
}

t.test('crafted entries are refused in one line before anything is written', async (t) => {
  const { work, entries } = makeCa(t);
  const x = Buffer.from('x').toString('base64');
  const cases: Array<[string, Entry[], unknown, RegExp]> = [
    ['a ../ path', [...entries, { path: 'ca/../../escaped', mode: 0o600, data: x }], 'wardgate.db', /the entry "ca\/\.\.\/\.\.\/escaped" is an absolute path or an empty/],
    ['an absolute path', [...entries, { path: '/etc/cron.d/x', mode: 0o600, data: x }], 'wardgate.db', /the entry "\/etc\/cron\.d\/x" is an absolute path/],
    ['a directory beside ca/', [...entries, { path: 'bin/x', mode: 0o755, data: x }], 'wardgate.db', /the entry "bin\/x" is a directory other than ca\//],
    // DataDirStaging rolls back a leftover staging dir by removing the names its marker lists from the data dir.
    ['a planted staging dir', [...entries, { path: '.wardgate-staging-x/.moving.json', mode: 0o600, data: Buffer.from('["wardgate.db"]').toString('base64') }, { path: '.wardgate-staging-x/ca/x', mode: 0o600, data: x }], 'wardgate.db', /the entry "\.wardgate-staging-x\/\.moving\.json" is a directory other than ca\//],
    ['the data dir lock', [...entries, { path: '.wardgate.lock', mode: 0o600, data: x }], 'wardgate.db', /the entry "\.wardgate\.lock" is a hidden file at the top/],
    ['a store WAL', [...entries, { path: 'wardgate.db-wal', mode: 0o600, data: x }], 'wardgate.db', /the entry "wardgate\.db-wal" is a store side file/],
    ['a NUL byte', [...entries, { path: 'a\0b', mode: 0o600, data: x }], 'wardgate.db', /the entry "a\\u0000b" is a name with a NUL byte/],
    ['a duplicate entry', [...entries, { path: 'ca/root.pem', mode: 0o644, data: x }], 'wardgate.db', /the entry ca\/root\.pem appears twice/],
    ['a file that is also a directory', [...entries, { path: 'ca/root.pem/x', mode: 0o600, data: x }], 'wardgate.db', /ca\/root\.pem is both a file and the directory of ca\/root\.pem\/x/],
    ['an entry without a mode', entries.map((e) => (e.path === 'ca/keys/root.key.pem' ? { path: e.path, data: e.data } : e)), 'wardgate.db', /an entry lacks a path, mode or content/],
    ['an entry of the wrong types', [...entries, { path: 7, mode: 'rw', data: null }], 'wardgate.db', /an entry lacks a path, mode or content/],
    ['the store under another name', entries.map((e) => (e.path === 'wardgate.db' ? { ...e, path: 'other.db' } : e)), 'other.db', /the store is named "other\.db", not wardgate\.db/],
    ['no CA keys', entries.filter((e) => !String(e.path).startsWith('ca/keys/')), 'wardgate.db', /the CA in it is incomplete, it lacks ca\/keys\/root\.key\.pem, ca\/keys\/ecdsa-1\.key\.pem, ca\/keys\/rsa-1\.key\.pem/],
    ['no issuer certificate', entries.filter((e) => e.path !== 'ca/issuers/rsa-1.pem'), 'wardgate.db', /the CA in it is incomplete, it lacks ca\/issuers\/rsa-1\.pem/],
  ];
  for (const [i, [label, files, storeFile, message]] of cases.entries()) {
    const from = join(work, `case-${i}.wgb`);
    writeFileSync(from, seal(pack(files, storeFile)));
    const target = join(work, `target-${i}`);
    const r = wardgate(['restore', '-d', target, '--from', from], env);
    t.equal(r.status, 1, `${label}: exit 1`);
    t.match(r.stderr, ONE_LINE('BACKUP_INVALID', new RegExp(`.*case-${i}\\.wgb: ${message.source}`)), `${label}: ${r.stderr.trim()}`);
    t.notOk(existsSync(target), `${label}: no data dir created`);
  }
  t.same(readdirSync(work).filter((n) => !/^(data|case-\d+\.wgb)$/.test(n)), [], 'nothing written beside the targets either');
});

t.test('modes from the archive: keys, ca.json and the store come back 0600; nothing setuid, executable or writable by others', async (t) => {
  const { work, entries } = makeCa(t);
  const loose = entries.map((e) => ({ ...e, mode: String(e.path).startsWith('ca/keys/') || e.path === 'wardgate.db' || e.path === 'ca/ca.json' ? 0o666 : 0o4777 }));
  const from = join(work, 'loose.wgb');
  writeFileSync(from, seal(pack(loose)));
  const target = join(work, 'restored');
  const r = wardgate(['restore', '-d', target, '--from', from], env);
  t.equal(r.status, 0, r.stderr);
  for (const p of CA_FILES) {
    const mode = statSync(join(target, p)).mode & 0o7777;
    const secret = p.startsWith('ca/keys/') || p === 'wardgate.db' || p === 'ca/ca.json';
    t.equal(mode, secret ? 0o600 : 0o644, `${p}: ${mode.toString(8)}`);
  }
});

t.test('a decompression bomb is refused by its size, not by running out of memory', async (t) => {
  const work = tempDir(t);
  // 600 MiB of one letter inside a JSON string: about 600 KiB compressed, more than any archive can hold.
  const gz = createGzip({ level: 9 });
  const chunks: Buffer[] = [];
  gz.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise((resolve) => gz.on('end', resolve));
  gz.write('{"format":"wardgate-backup","version":1,"createdAt":"x","storeFile":"wardgate.db","files":[{"path":"ca/ca.json","mode":384,"data":"');
  const block = Buffer.alloc(1 << 24, 0x41);
  for (let i = 0; i < 600 / 16; i++) gz.write(block);
  gz.end('"}]}');
  await done;
  const from = join(work, 'bomb.wgb');
  writeFileSync(from, seal(Buffer.concat(chunks)));
  t.ok(statSync(from).size < 4 << 20, 'the bomb is small');
  const target = join(work, 'target');
  const r = wardgate(['restore', '-d', target, '--from', from], env);
  t.match(r.stderr, ONE_LINE('BACKUP_INVALID', /.*bomb\.wgb decompresses to more than \d+ bytes/), r.stderr);
  t.notOk(existsSync(target));
});

t.test('keys are decrypted with the CA passphrase before the restore moves in', async (t) => {
  const { work, dir } = makeCa(t);
  const archive = join(work, 'separate.wgb');
  const backup = { WARDGATE_BACKUP_PASSPHRASE: 'backup-only' };
  t.equal(wardgate(['backup', '-d', dir, '--out', archive], backup).status, 0);
  const wrong = join(work, 'wrong');
  const r = wardgate(['restore', '-d', wrong, '--from', archive], { ...backup, WARDGATE_CA_PASSPHRASE: 'not-the-ca-passphrase' });
  t.equal(r.status, 1);
  t.match(r.stderr, ONE_LINE('PASSPHRASE_WRONG', /the CA key \S+\.key\.pem in the archive does not decrypt with WARDGATE_CA_PASSPHRASE .*nothing was restored/), r.stderr);
  t.notMatch(r.stderr, /not-the-ca-passphrase|backup-only/, 'no passphrase in the message');
  t.notOk(existsSync(wrong), 'no data dir');
  const right = wardgate(['restore', '-d', join(work, 'right'), '--from', archive], { ...backup, ...env });
  t.equal(right.status, 0, right.stderr);
  t.match(right.stdout, /; 3 CA keys decrypt, store intact/);
  const unchecked = wardgate(['restore', '-d', join(work, 'unchecked'), '--from', archive], backup);
  t.equal(unchecked.status, 0, unchecked.stderr);
  t.match(unchecked.stdout, /CA keys not checked \(WARDGATE_CA_PASSPHRASE is not set\)/, 'says what it could not check');
});

t.test('backup follows a symlinked ca/keys and refuses a CA that lacks a key, instead of an archive that cannot restore', async (t) => {
  const { work, dir } = makeCa(t);
  // An admin moved the keys to another volume and linked them back: the CA runs, so must its backup.
  const elsewhere = join(work, 'key-volume');
  renameSync(join(dir, 'ca', 'keys'), elsewhere);
  symlinkSync(elsewhere, join(dir, 'ca', 'keys'));
  const target = join(work, 'restored');
  const { backup: b, restore: r } = backupAndRestore(dir, join(work, 'linked.wgb'), target, env);
  t.equal(b.status, 0, b.stderr);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /3 CA keys decrypt/);
  t.ok(statSync(join(target, 'ca', 'keys')).isDirectory() && !readdirSync(target, { withFileTypes: true }).some((e) => e.isSymbolicLink()), 'restored as plain files');

  unlinkSync(join(elsewhere, 'rsa-1.key.pem'));
  const out = join(work, 'incomplete.wgb');
  const refused = wardgate(['backup', '-d', dir, '--out', out], env);
  t.equal(refused.status, 1);
  t.match(refused.stderr, ONE_LINE('BACKUP_INVALID', /not writing a backup of .*: the CA is incomplete, it lacks ca\/keys\/rsa-1\.key\.pem/), refused.stderr);
  t.notOk(existsSync(out), 'no archive');
});

t.test('a staging dir planted in a data dir that holds a CA: init neither rolls it back nor removes the store', async (t) => {
  const { dir } = makeCa(t);
  const planted = join(dir, '.wardgate-staging-planted');
  mkdirSync(join(planted, 'ca'), { recursive: true });
  writeFileSync(join(planted, '.moving.json'), JSON.stringify(['wardgate.db', 'ca']));
  const before = readFileSync(join(dir, 'wardgate.db'));
  const r = wardgate(['init', '-d', dir, '--name', 'Again', '--permit-dns', 'klinikum.internal'], env);
  t.match(r.stderr, ONE_LINE('DATA_DIR_EXISTS', /.* already holds a CA/), r.stderr);
  t.ok(existsSync(join(dir, 'wardgate.db')), 'the store is still there');
  t.ok(readFileSync(join(dir, 'wardgate.db')).equals(before), 'unchanged');
  t.ok(existsSync(join(dir, 'ca', 'ca.json')), 'and the CA');
});
