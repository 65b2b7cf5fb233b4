/**
 * Bad input to backup / restore / the key-handling commands: one precise line, exit 1, nothing written or
 * rewritten. Plus file modes, and the commands an admin runs next to a live `wardgate serve`.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { createCipheriv, createHash, randomBytes, scryptSync } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { BIN, wardgate } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { makeCsr, openssl } from '../helpers/openssl.ts';
import { freePort } from '../interop/fixtures/peers.ts';
import { spawnServe } from '../interop/fixtures/serve-process.ts';
import { TEST_PASSPHRASE } from '../helpers/ca.ts';

const env = { WARDGATE_CA_PASSPHRASE: TEST_PASSPHRASE };
const ONE_LINE = (code: string, message: RegExp) => new RegExp(`^wardgate: error \\[${code}\\]: ${message.source}[^\\n]*\\n$`);

/** Every file under `dir` with its mode and content hash, to prove that nothing was rewritten. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (!/wardgate\.db-(wal|shm)$/.test(p)) out[p] = `${(statSync(p).mode & 0o777).toString(8)} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`;
    }
  };
  walk(dir);
  return out;
}

function keyFiles(dir: string): Record<string, string> {
  return Object.fromEntries(Object.entries(snapshot(dir)).filter(([p]) => p.includes(`${join('ca', 'keys')}`) || p.endsWith('ca.json')));
}

async function makeCa(t: Parameters<typeof tempDir>[0]): Promise<{ work: string; dir: string }> {
  const work = tempDir(t);
  const dir = join(work, 'data');
  const init = wardgate(['init', '-d', dir, '--name', 'Input', '--permit-dns', 'klinikum.internal', '--permit-ip', '127.0.0.0/8', '--root-key-type', 'ecdsa-p384', '--rsa-key-type', 'rsa-2048'], env);
  if (init.status !== 0) throw new Error(init.stderr);
  return { work, dir };
}

t.test('restore of a damaged, foreign or wrongly keyed archive: a precise line, the data dir untouched', async (t) => {
  const { work, dir } = await makeCa(t);
  const good = join(work, 'good.wgb');
  t.equal(wardgate(['backup', '-d', dir, '--out', good], env).status, 0);
  const bytes = readFileSync(good);
  const flipped = Buffer.from(bytes);
  flipped[bytes.length - 100] ^= 0x01;
  const file = (name: string, data: Buffer | string) => { const p = join(work, name); writeFileSync(p, data); return p; };
  const cases: Array<[string, string, Record<string, string>, string, RegExp]> = [
    ['truncated body', file('cut.wgb', bytes.subarray(0, bytes.length - 1000)), env, 'BACKUP_INVALID', /.*cut\.wgb is truncated: \d+ of \d+ bytes/],
    ['truncated in the header', file('head.wgb', bytes.subarray(0, 40)), env, 'BACKUP_INVALID', /.*head\.wgb is truncated: 40 bytes, shorter than the/],
    ['one flipped bit', file('flip.wgb', flipped), env, 'BACKUP_INVALID', /.*flip\.wgb is corrupt: the passphrase is right but/],
    ['bytes appended', file('long.wgb', Buffer.concat([bytes, Buffer.from('x')])), env, 'BACKUP_INVALID', /.*long\.wgb has 1 bytes after the end/],
    ['a foreign file', file('foreign.pem', readFileSync(join(dir, 'ca', 'root.pem'))), env, 'BACKUP_INVALID', /.*foreign\.pem is not a wardgate backup/],
    ['an empty file', file('empty.wgb', ''), env, 'BACKUP_INVALID', /.*empty\.wgb is empty/],
    ['a missing file', join(work, 'nope.wgb'), env, 'BACKUP_INVALID', /cannot read .*nope\.wgb: ENOENT/],
    ['a directory', work, env, 'BACKUP_INVALID', /.* is not a file/],
    ['the wrong passphrase', good, { WARDGATE_CA_PASSPHRASE: 'not-the-one' }, 'PASSPHRASE_WRONG', /cannot decrypt .*good\.wgb: wrong passphrase/],
    ['no passphrase', good, {}, 'PASSPHRASE_MISSING', /WARDGATE_CA_PASSPHRASE is not set/],
  ];
  for (const [i, [label, from, e, code, message]] of cases.entries()) {
    const target = join(work, `target-${i}`);
    const r = wardgate(['restore', '-d', target, '--from', from], e);
    t.equal(r.status, 1, `${label}: exit 1`);
    t.match(r.stderr, ONE_LINE(code, message), `${label}: ${r.stderr.trim()}`);
    t.notOk(existsSync(target), `${label}: no data dir created`);
  }
});

t.test('an archive in format 1 (before the key check) still restores', async (t) => {
  const { work, dir } = await makeCa(t);
  // Format 1, written here as the earlier wardgate did: magic, salt, iv, tag, AES-256-GCM(gzip(JSON)).
  const files = ['ca/ca.json', 'ca/root.pem', 'ca/intermediate.pem', 'ca/intermediate-rsa.pem', 'ca/issuers/ecdsa-1.pem', 'ca/issuers/rsa-1.pem', 'ca/keys/root.key.pem', 'ca/keys/ecdsa-1.key.pem', 'ca/keys/rsa-1.key.pem', 'wardgate.db']
    .map((p) => ({ path: p, mode: 0o600, data: readFileSync(join(dir, p)).toString('base64') }));
  const plain = gzipSync(JSON.stringify({ format: 'wardgate-backup', version: 1, createdAt: new Date().toISOString(), storeFile: 'wardgate.db', files }));
  const magic = Buffer.from('WARDGATE-BACKUP-1\n');
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', scryptSync(TEST_PASSPHRASE, salt, 32, { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 }), iv);
  cipher.setAAD(magic);
  const body = Buffer.concat([cipher.update(plain), cipher.final()]);
  const v1 = join(work, 'v1.wgb');
  writeFileSync(v1, Buffer.concat([magic, salt, iv, cipher.getAuthTag(), body]));
  const r = wardgate(['restore', '-d', join(work, 'restored'), '--from', v1], env);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /audit chain of 1 entries verifies/);
  const wrong = wardgate(['restore', '-d', join(work, 'other'), '--from', v1], { WARDGATE_CA_PASSPHRASE: 'not-the-one' });
  t.match(wrong.stderr, ONE_LINE('PASSPHRASE_WRONG', /cannot decrypt .*v1\.wgb: wrong passphrase, or the archive was altered or truncated/));
});

t.test('a wrong or missing passphrase: one line, no archive, key files never rewritten', async (t) => {
  const { work, dir } = await makeCa(t);
  const before = keyFiles(dir);
  const wrong = { WARDGATE_CA_PASSPHRASE: 'typo-of-the-passphrase' };
  const out = join(work, 'typo.wgb');
  const backup = wardgate(['backup', '-d', dir, '--out', out], wrong);
  t.equal(backup.status, 1, 'backup under a mistyped CA passphrase is refused');
  t.match(backup.stderr, ONE_LINE('PASSPHRASE_WRONG', /cannot decrypt CA key/));
  t.notOk(existsSync(out), 'no archive that the right passphrase could not restore');

  const separate = wardgate(['backup', '-d', dir, '--out', join(work, 'separate.wgb')], { WARDGATE_BACKUP_PASSPHRASE: 'backup-only' });
  t.equal(separate.status, 0, `a separate WARDGATE_BACKUP_PASSPHRASE needs no CA passphrase ${separate.stderr}`);
  const back = wardgate(['restore', '-d', join(work, 'separate'), '--from', join(work, 'separate.wgb')], { WARDGATE_BACKUP_PASSPHRASE: 'backup-only' });
  t.equal(back.status, 0, back.stderr);

  const { csr } = makeCsr(work, 'dev', { cn: 'dev.klinikum.internal' });
  t.equal(wardgate(['issue', '-d', dir, '--csr', csr, '--out', join(work, 'dev.pem')], env).status, 0);
  const serial = openssl(['x509', '-noout', '-serial', '-in', join(work, 'dev.pem')]).trim().split('=')[1];
  const commands: string[][] = [
    ['revoke', serial, '-d', dir], ['eab', 'create', '-d', dir], ['ca', 'rollover', '-d', dir],
    ['ca', 'root-offline', '-d', dir, '--out', join(work, 'root-off.pem')], ['backup', '-d', dir, '--out', out],
  ];
  for (const args of commands) {
    for (const [label, e, code] of [['wrong', wrong, 'PASSPHRASE_WRONG'], ['missing', {}, 'PASSPHRASE_MISSING']] as const) {
      const r = wardgate(args, e);
      t.equal(r.status, 1, `${args.slice(0, 2).join(' ')}, ${label} passphrase: exit 1`);
      t.match(r.stderr, new RegExp(`^wardgate: error \\[${code}\\]: [^\\n]+\\n$`), `${args.slice(0, 2).join(' ')}, ${label} passphrase: one line`);
      t.notMatch(r.stderr, /\bat .*\.ts:\d+/, 'no stack trace');
    }
  }
  t.same(keyFiles(dir), before, 'key files and ca.json unchanged, modes included');
  t.notOk(existsSync(join(work, 'root-off.pem')), 'no root key exported');
  t.match(wardgate(['list', '-d', dir, '--json'], env).stdout, /"status":\s*"valid"/, 'the certificate is still valid');
});

t.test('file modes: keys, ca.json, the store and archives are 0600', async (t) => {
  const { work, dir } = await makeCa(t);
  const check = (root: string, label: string) => {
    for (const f of readdirSync(join(root, 'ca', 'keys'))) t.equal(statSync(join(root, 'ca', 'keys', f)).mode & 0o777, 0o600, `${label}: ${f}`);
    t.equal(statSync(join(root, 'ca', 'ca.json')).mode & 0o777, 0o600, `${label}: ca.json`);
    // The store holds the EAB HMAC keys.
    t.equal(statSync(join(root, 'wardgate.db')).mode & 0o777, 0o600, `${label}: wardgate.db`);
    t.equal(statSync(root).mode & 0o077, 0, `${label}: the data dir itself`);
  };
  check(dir, 'after init');
  const archive = join(work, 'b.wgb');
  t.equal(wardgate(['backup', '-d', dir, '--out', archive], env).status, 0);
  t.equal(statSync(archive).mode & 0o777, 0o600, 'the archive');
  t.equal(wardgate(['restore', '-d', join(work, 'restored'), '--from', archive], env).status, 0);
  check(join(work, 'restored'), 'after restore');
});

t.test('next to a running serve: restore into its data dir is refused, revoke and eab create land', async (t) => {
  const { work, dir } = await makeCa(t);
  const { csr } = makeCsr(work, 'live', { cn: 'live.klinikum.internal' });
  t.equal(wardgate(['issue', '-d', dir, '--csr', csr, '--out', join(work, 'live.pem')], env).status, 0);
  const serial = openssl(['x509', '-noout', '-serial', '-in', join(work, 'live.pem')]).trim().split('=')[1];
  const archive = join(work, 'b.wgb');
  t.equal(wardgate(['backup', '-d', dir, '--out', archive], env).status, 0);

  const host = '127.30.4.1';
  const httpHost = '127.30.4.2';
  const port = await freePort(host);
  const httpPort = await freePort(httpHost);
  const server = spawnServe(t, ['--data-dir', dir, '--listen', `${host}:${port}`, '--http-listen', `${httpHost}:${httpPort}`]);
  await server.ready;
  const distribution = `http://${httpHost}:${httpPort}`;
  const before = snapshot(dir);

  const restore = wardgate(['restore', '-d', dir, '--from', archive], env);
  t.equal(restore.status, 1);
  t.match(restore.stderr, ONE_LINE('DATA_DIR_LOCKED', new RegExp(`data dir .*data is in use by wardgate serve, pid ${server.child.pid}\\b`)), 'refused with one line naming the serve');
  t.same(Object.keys(snapshot(dir)).filter((p) => !before[p]), [], 'no file added to the live data dir');
  t.same(Object.fromEntries(Object.entries(snapshot(dir)).filter(([p]) => !p.endsWith('wardgate.db'))), Object.fromEntries(Object.entries(before).filter(([p]) => !p.endsWith('wardgate.db'))), 'no file changed');

  // Two admins revoke the same certificate at once while serve holds the store open: exactly one wins.
  const [a, b] = await Promise.all([0, 1].map(() => new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = execFile(process.execPath, [BIN, 'revoke', serial, '-d', dir, '--reason', 'keyCompromise'],
      { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env } }, (_err, _out, stderr) => resolve({ code: child.exitCode, stderr }));
  })));
  t.same([a.code, b.code].sort(), [0, 1], `one revoke succeeds, the other is refused (${a.stderr}${b.stderr})`);
  t.match(a.stderr + b.stderr, /^wardgate: error \[CERT_ALREADY_REVOKED\]/m);
  const eab = wardgate(['eab', 'create', '-d', dir, '--label', 'while serving', '--json'], env);
  t.equal(eab.status, 0, eab.stderr);
  const kid = JSON.parse(eab.stdout).kid as string;
  t.match(wardgate(['eab', 'list', '-d', dir], env).stdout, new RegExp(`^${kid}\\twhile serving`, 'm'), 'the EAB key is stored');

  const crl = Buffer.from(await (await fetch(`${distribution}/crl/ecdsa-1.crl`)).arrayBuffer());
  const text = openssl(['crl', '-inform', 'DER', '-noout', '-text'], crl);
  t.match(text.toLowerCase(), new RegExp(serial.toLowerCase().replace(/^(00)+/, '')), 'the running serve publishes the revocation');
  t.equal(server.child.exitCode, null, 'serve is still running');
  const audit = wardgate(['audit', 'verify', '-d', dir], env);
  t.match(audit.stdout, /audit log intact/, audit.stderr);
});
