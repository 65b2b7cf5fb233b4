import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BIN, wardgate } from '../helpers/cli.ts';
import { testCa, TEST_PASSPHRASE } from '../helpers/ca.ts';
import { tempDir } from '../helpers/tmp.ts';
import { after, assertCompleteCa, assertNoCa, fillStore, hasEntries, killWhen } from '../helpers/data-dir-checks.ts';
import { makeCsr, verifyChain } from '../helpers/openssl.ts';
import { CertificateAuthority } from '../../src/pki/ca.ts';
import { verifyAuditChain } from '../../src/store/audit-chain.ts';

const env = { WARDGATE_CA_PASSPHRASE: TEST_PASSPHRASE };
const fastKeys = ['--root-key-type', 'ecdsa-p384', '--rsa-key-type', 'rsa-2048'];
/** Enough rows (about 30 MB of store) that writing it takes a while: a kill lands in the middle. */
const ROWS = 20_000;

t.test('restore killed -9 at any moment leaves no CA or the complete one; a rerun then restores', async (t) => {
  const { ca, dir, work } = await testCa(t);
  fillStore(ca.store as never, ROWS);
  ca.close();
  const archive = join(work, 'big.wgb');
  const b = wardgate(['backup', '-d', dir, '--out', archive], env);
  t.equal(b.status, 0, b.stderr);

  const triggers: Array<[string, (target: string) => () => boolean]> = [
    ['ca/ca.json appears', (target) => () => existsSync(join(target, 'ca', 'ca.json'))],
    ['the first entry appears', (target) => () => hasEntries(target)],
    ['first entry + 150 ms', (target) => { const a = after(150); return () => hasEntries(target) && a(); }],
    ['after 1.2 s', () => after(1200)],
    ['after 2.5 s', () => after(2500)],
  ];
  for (const [i, [label, trigger]] of triggers.entries()) {
    const target = join(work, `restored-${i}`);
    const r = await killWhen(['restore', '-d', target, '--from', archive], env, trigger(target));
    const name = `kill when ${label} (${r.signal ?? `exit ${r.code}`})`;
    if (existsSync(join(target, 'ca', 'ca.json'))) {
      await assertCompleteCa(t, target, TEST_PASSPHRASE, ROWS, name);
      continue;
    }
    await assertNoCa(t, target, name);
    const again = wardgate(['restore', '-d', target, '--from', archive], env);
    t.equal(again.status, 0, `${name}: the rerun restores ${again.stderr}`);
    await assertCompleteCa(t, target, TEST_PASSPHRASE, ROWS, `${name}, rerun`);
    t.same(readdirSync(target).sort(), ['ca', 'wardgate.db'], `${name}: no leftover of the killed run`);
  }
});

t.test('init killed -9 at any moment leaves no CA (and init runs again cleanly) or the complete one', async (t) => {
  const work = tempDir(t);
  const triggers: Array<[string, (target: string) => () => boolean]> = [
    ['ca/ca.json appears', (target) => () => existsSync(join(target, 'ca', 'ca.json'))],
    ['the store appears', (target) => () => existsSync(join(target, 'wardgate.db'))],
    ['the first entry appears', (target) => () => hasEntries(target)],
    ['after 1.5 s', () => after(1500)],
    ['after 2.5 s', () => after(2500)],
  ];
  for (const [i, [label, trigger]] of triggers.entries()) {
    const target = join(work, `ca-${i}`);
    const args = ['init', '-d', target, '--name', 'Kill', '--permit-dns', 'klinikum.internal', ...fastKeys];
    const r = await killWhen(args, env, trigger(target));
    const name = `kill when ${label} (${r.signal ?? `exit ${r.code}`})`;
    if (existsSync(join(target, 'ca', 'ca.json'))) {
      await assertCompleteCa(t, target, TEST_PASSPHRASE, 0, name);
      continue;
    }
    await assertNoCa(t, target, name);
    const again = wardgate(args, env);
    t.equal(again.status, 0, `${name}: init runs again ${again.stderr}`);
    await assertCompleteCa(t, target, TEST_PASSPHRASE, 0, `${name}, second init`);
  }
});

t.test('init never overwrites keys: a data dir with CA files but no ca.json is refused untouched', async (t) => {
  const work = tempDir(t);
  const dir = join(work, 'damaged');
  mkdirSync(join(dir, 'ca', 'keys'), { recursive: true });
  const key = join(dir, 'ca', 'keys', 'root.key.pem');
  writeFileSync(key, '-----BEGIN ENCRYPTED PRIVATE KEY-----\nthe only copy\n-----END ENCRYPTED PRIVATE KEY-----\n', { mode: 0o600 });
  const before = readFileSync(key);
  const r = wardgate(['init', '-d', dir, '--name', 'X', '--permit-dns', 'klinikum.internal', ...fastKeys], env);
  t.equal(r.status, 1);
  t.match(r.stderr, /^wardgate: error \[DATA_DIR_EXISTS\]: .*holds CA files \(ca\).*no ca\/ca\.json.*nothing was changed.*\n$/);
  t.same(readFileSync(key), before, 'the key file is unchanged');
  t.same(readdirSync(join(dir, 'ca', 'keys')), ['root.key.pem'], 'no key written next to it');
  t.same(readdirSync(dir), ['ca'], 'nothing else written');
});

t.test('ca rollover killed -9 at any moment: the old intermediates still issue, or the new ones do', async (t) => {
  const { ca, dir, work } = await testCa(t);
  ca.close();
  const metaFile = join(dir, 'ca', 'ca.json');
  let metaMtime = statSync(metaFile).mtimeMs;
  const triggers: Array<[string, () => boolean]> = [
    ['the new ECDSA key appears', () => existsSync(join(dir, 'ca', 'keys', 'ecdsa-2.key.pem'))],
    ['the new RSA issuer certificate appears', () => existsSync(join(dir, 'ca', 'issuers', 'rsa-2.pem'))],
    ['ca.json changes', () => statSync(metaFile).mtimeMs !== metaMtime],
    ['after 2 s', after(2000)],
  ];
  for (const [i, [label, trigger]] of triggers.entries()) {
    metaMtime = statSync(metaFile).mtimeMs;
    const r = await killWhen(['ca', 'rollover', '-d', dir], env, trigger);
    const name = `kill when ${label} (${r.signal ?? `exit ${r.code}`})`;
    const reopened = await CertificateAuthority.open(dir, { passphrase: TEST_PASSPHRASE });
    try {
      const active = reopened.meta.issuers.filter((x) => x.active);
      t.same(active.map((x) => x.kind).sort(), ['ecdsa', 'rsa'], `${name}: one active issuer of each kind`);
      t.equal(new Set(active.map((x) => x.id.split('-')[1])).size, 1, `${name}: both kinds rolled over, or neither`);
      // ca/intermediate*.pem are what admins hand to devices: after a reopen they name the active issuers.
      for (const [file, kind] of [['intermediate.pem', 'ecdsa'], ['intermediate-rsa.pem', 'rsa']] as const) {
        const id = active.find((x) => x.kind === kind)!.id;
        t.equal(readFileSync(join(dir, 'ca', file), 'utf8'), readFileSync(join(dir, 'ca', 'issuers', `${id}.pem`), 'utf8'), `${name}: ${file} is the active ${kind} issuer`);
      }
      verifyAuditChain(reopened.store.readAudit(), reopened.store.auditHead());
    } finally {
      reopened.close();
    }
    const { csr } = makeCsr(work, `leaf-${i}`, { cn: `leaf${i}.klinikum.internal` });
    const out = join(work, `leaf-${i}.pem`);
    const issued = wardgate(['issue', '-d', dir, '--csr', csr, '--out', out], env);
    t.equal(issued.status, 0, `${name}: the CA issues ${issued.stderr}`);
    const [leaf, mid] = readFileSync(out, 'utf8').split(/(?<=-----END CERTIFICATE-----\n)/);
    t.ok(verifyChain(readFileSync(join(dir, 'ca', 'root.pem'), 'utf8'), mid, leaf, work).ok, `${name}: its chain verifies`);
  }
});

t.test('a rollover interrupted after ca.json: the next open rewrites intermediate*.pem to the active issuers', async (t) => {
  // Found in review: ca.json commits a rollover and the intermediate*.pem copies are written after it; a
  // kill between the two left copies naming the old issuers until the next rollover.
  const { ca, dir } = await testCa(t);
  const old = { ecdsa: readFileSync(join(dir, 'ca', 'intermediate.pem'), 'utf8'), rsa: readFileSync(join(dir, 'ca', 'intermediate-rsa.pem'), 'utf8') };
  await ca.rollover(['ecdsa', 'rsa']);
  ca.close();
  // The state such a kill leaves: the new issuers active in ca.json, the old copies on disk.
  writeFileSync(join(dir, 'ca', 'intermediate.pem'), old.ecdsa);
  writeFileSync(join(dir, 'ca', 'intermediate-rsa.pem'), old.rsa);
  const reopened = await CertificateAuthority.open(dir, { passphrase: TEST_PASSPHRASE });
  reopened.close();
  t.equal(readFileSync(join(dir, 'ca', 'intermediate.pem'), 'utf8'), readFileSync(join(dir, 'ca', 'issuers', 'ecdsa-2.pem'), 'utf8'), 'intermediate.pem is ecdsa-2');
  t.equal(readFileSync(join(dir, 'ca', 'intermediate-rsa.pem'), 'utf8'), readFileSync(join(dir, 'ca', 'issuers', 'rsa-2.pem'), 'utf8'), 'intermediate-rsa.pem is rsa-2');
});

t.test('a backup taken while another process issues finishes and holds every certificate issued before it', async (t) => {
  const { ca, dir, work } = await testCa(t);
  fillStore(ca.store as never, ROWS);
  ca.close();
  const loop = fileURLToPath(new URL('../helpers/issue-loop.ts', import.meta.url));
  const issuer = spawn(process.execPath, ['--import', 'tsx', loop, dir, '1000000'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => { issuer.kill('SIGKILL'); });
  const reported: string[] = [];
  let buffered = '';
  let enough: () => void;
  const started = new Promise<void>((resolve) => { enough = resolve; });
  issuer.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    reported.push(...lines);
    if (reported.length >= 20) enough();
  });
  await started;
  const before = [...reported];

  const archive = join(work, 'online.wgb');
  const backup = spawn(process.execPath, [BIN, 'backup', '-d', dir, '--out', archive], { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  backup.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  // Generous: the backup takes seconds; the bound only catches one that never finishes.
  const watchdog = setTimeout(() => backup.kill('SIGKILL'), 180_000);
  const [code] = await new Promise<[number | null]>((resolve) => backup.once('exit', (c) => resolve([c])));
  clearTimeout(watchdog);
  const issuedMeanwhile = reported.length - before.length;
  issuer.kill('SIGKILL');
  t.equal(code, 0, `the backup finished while ${issuedMeanwhile} more certificates were issued ${stderr}`);
  t.ok(issuedMeanwhile > 0, 'issuance went on during the backup');

  const target = join(work, 'restored');
  const r = wardgate(['restore', '-d', target, '--from', archive], env);
  t.equal(r.status, 0, r.stderr);
  const restored = await CertificateAuthority.open(target, { passphrase: TEST_PASSPHRASE });
  t.teardown(() => restored.close());
  restored.store.checkIntegrity();
  t.same(before.filter((s) => !restored.store.getCertificate(s)), [], 'every certificate issued before the backup started is in it');
  t.ok(restored.store.countCertificates() >= ROWS + before.length, 'and the filled rows');
  verifyAuditChain(restored.store.readAudit(), restored.store.auditHead());
});

t.test('backup killed -9: never a partial archive under --out, never a store copy others can read', async (t) => {
  const { ca, dir, work } = await testCa(t);
  fillStore(ca.store as never, ROWS);
  ca.close();
  // tsx keeps its cache in TMPDIR too: only wardgate's own entries count.
  const ours = (tmp: string) => readdirSync(tmp).filter((e) => e.startsWith('wardgate-backup'));
  const triggers: Array<[string, (tmp: string) => () => boolean]> = [
    ['the snapshot appears', (tmp) => () => ours(tmp).length > 0],
    ['snapshot + 300 ms', (tmp) => { const a = after(300); return () => ours(tmp).length > 0 && a(); }],
    ['after 2 s', () => after(2000)],
    ['after 3.5 s', () => after(3500)],
  ];
  for (const [i, [label, trigger]] of triggers.entries()) {
    const tmp = join(work, `tmp-${i}`);
    mkdirSync(tmp, { mode: 0o755 });
    const out = join(work, `b-${i}.wgb`);
    const r = await killWhen(['backup', '-d', dir, '--out', out], { ...env, TMPDIR: tmp }, trigger(tmp));
    const name = `kill when ${label} (${r.signal ?? `exit ${r.code}`})`;
    for (const e of ours(tmp)) {
      t.equal(statSync(join(tmp, e)).mode & 0o077, 0, `${name}: leftover ${e} is private to the owner`);
    }
    if (!existsSync(out)) {
      t.pass(`${name}: no archive under --out`);
      continue;
    }
    t.equal(statSync(out).mode & 0o777, 0o600, `${name}: the archive is 0600`);
    const target = join(work, `r-${i}`);
    const restore = wardgate(['restore', '-d', target, '--from', out], env);
    t.equal(restore.status, 0, `${name}: an archive under --out is complete ${restore.stderr}`);
  }
});
