import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { hashAuditEntry } from '../../src/store/audit-chain.ts';
import { wardgate } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { makeCsr, openssl, verifyChain } from '../helpers/openssl.ts';

const env = { WARDGATE_CA_PASSPHRASE: 'cli-test-passphrase' };

t.test('the interface contract: init, issue --csr, revoke, crl, list, audit verify', async (t) => {
  const work = tempDir(t);
  const dir = join(work, 'data');
  const init = wardgate(['init', '--data-dir', dir, '--name', 'CLI Klinikum', '--permit-dns', 'klinikum.internal', '--permit-ip', '127.0.0.0/8', '--root-key-type', 'ecdsa-p384', '--rsa-key-type', 'rsa-2048'], env);
  t.equal(init.status, 0, `init exits 0 ${init.stderr}`);
  t.ok(existsSync(join(dir, 'ca', 'root.pem')) && existsSync(join(dir, 'ca', 'intermediate.pem')) && existsSync(join(dir, 'ca', 'intermediate-rsa.pem')));

  const { csr } = makeCsr(work, 'modality', { key: 'ec256', cn: 'ct1.klinikum.internal', sans: ['DNS:ct1.klinikum.internal', 'IP:127.20.0.5'] });
  const out = join(work, 'ct1.pem');
  const issue = wardgate(['issue', '--data-dir', dir, '--profile', 'dicom-node', '--csr', csr, '--out', out], env);
  t.equal(issue.status, 0, `issue exits 0 ${issue.stderr}`);
  const chain = readFileSync(out, 'utf8');
  const [leaf, mid] = chain.split(/(?<=-----END CERTIFICATE-----\n)/);
  t.equal(mid, readFileSync(join(dir, 'ca', 'intermediate.pem'), 'utf8'), 'the leaf is followed by the ECDSA intermediate');
  t.ok(verifyChain(readFileSync(join(dir, 'ca', 'root.pem'), 'utf8'), mid, leaf, work).ok, 'chain verifies with openssl');
  const serial = openssl(['x509', '-noout', '-serial'], leaf).trim().split('=')[1].toLowerCase().replace(/^(00)+/, '');

  const p12 = join(work, 'ws.p12');
  const made = wardgate(['issue', '--data-dir', dir, '--profile', 'workstation-client', '--name', 'ws1.klinikum.internal', '--key-type', 'rsa-2048', '--pkcs12', p12], { ...env, WARDGATE_P12_PASSWORD: 'p12pass' });
  t.equal(made.status, 0, `issue --pkcs12 exits 0 ${made.stderr}`);
  const p12Certs = openssl(['pkcs12', '-in', p12, '-passin', 'pass:p12pass', '-nokeys']);
  t.equal(p12Certs.match(/BEGIN CERTIFICATE/g)?.length, 3, 'the .p12 opens with openssl: leaf, RSA intermediate and root');
  t.match(p12Certs, /subject=CN = CLI Klinikum Root CA[^\n]*\nissuer=CN = CLI Klinikum Root CA/, 'the ECDSA P-384 root is in the bundle, not omitted');

  const list = wardgate(['list', '--data-dir', dir, '--json'], env);
  const rows = JSON.parse(list.stdout) as { serial: string; status: string }[];
  t.equal(rows.length, 2);
  t.ok(rows.some((r) => r.serial.replace(/^(00)+/, '') === serial), 'list --json shows the issued serial');
  t.match(wardgate(['list', '--data-dir', dir], env).stdout, /ct1\.klinikum\.internal/, 'table output');

  const revoke = wardgate(['revoke', serial, '--data-dir', dir, '--reason', 'keyCompromise'], env);
  t.equal(revoke.status, 0, `revoke exits 0 ${revoke.stderr}`);
  const again = wardgate(['revoke', serial, '--data-dir', dir, '--reason', 'keyCompromise'], env);
  t.equal(again.status, 1);
  t.match(again.stderr, /^wardgate: error \[CERT_ALREADY_REVOKED\]: .+\n$/, 'second revocation: one clear line');

  const crlFile = join(work, 'ca.crl');
  t.equal(wardgate(['crl', '--data-dir', dir, '--out', crlFile], env).status, 0);
  t.match(openssl(['crl', '-noout', '-text', '-in', crlFile]), /Key Compromise/, 'openssl parses the CRL and sees the reason');

  const audit = wardgate(['audit', 'verify', '--data-dir', dir], env);
  t.match(audit.stdout, /audit log intact: \d+ entries, head \d+:[0-9a-f]{64}/);

  // A forger with write access to wardgate.db edits an early entry and recomputes every hash and the
  // head: the plain check cannot tell, a head kept elsewhere (--anchor) can.
  const anchor = /head (\d+:[0-9a-f]{64})/.exec(audit.stdout)![1];
  t.match(wardgate(['audit', 'verify', '--data-dir', dir, '--anchor', anchor], env).stdout, /passes through the anchor/, 'the untouched chain passes through its anchor');
  const db = new Database(join(dir, 'wardgate.db'));
  const auditRows = db.prepare('SELECT * FROM audit_log ORDER BY seq').all() as Array<{ seq: number; at: string; event: string; actor: string; data: string; prev_hash: string; hash: string }>;
  let prev = auditRows[0].prev_hash;
  for (const r of auditRows) {
    const data = r.seq === 2 ? { ...JSON.parse(r.data), forged: true } : JSON.parse(r.data);
    const hash = hashAuditEntry({ seq: r.seq, at: r.at, event: r.event, actor: r.actor, data, prevHash: prev });
    db.prepare('UPDATE audit_log SET data = ?, prev_hash = ?, hash = ? WHERE seq = ?').run(JSON.stringify(data), prev, hash, r.seq);
    prev = hash;
  }
  db.prepare('UPDATE audit_head SET hash = ? WHERE id = 1').run(prev);
  db.close();
  t.equal(wardgate(['audit', 'verify', '--data-dir', dir], env).status, 0, 'the recomputed chain passes the plain check (it is hashed, not keyed)');
  const anchored = wardgate(['audit', 'verify', '--data-dir', dir, '--anchor', anchor], env);
  t.equal(anchored.status, 1, 'but not the anchored one');
  t.match(anchored.stderr, /\[AUDIT_CHAIN_BROKEN\]: audit entry \d+ is no longer the one anchored .*the chain was rewritten/);
  const badAnchor = wardgate(['audit', 'verify', '--data-dir', dir, '--anchor', 'latest'], env);
  t.equal(badAnchor.status, 2);
  t.match(badAnchor.stderr, /--anchor "latest" is not SEQ:HASH/);
});

t.test('bad input: one line on stderr, exit codes 1 (refused) and 2 (usage)', async (t) => {
  const work = tempDir(t);
  const dir = join(work, 'data');
  const noPass = wardgate(['init', '--data-dir', dir, '--name', 'X', '--permit-dns', 'klinikum.internal']);
  t.equal(noPass.status, 1);
  t.match(noPass.stderr, /^wardgate: error \[PASSPHRASE_MISSING\]: WARDGATE_CA_PASSPHRASE is not set.*\n$/);
  t.notOk(existsSync(join(dir, 'ca')), 'nothing written without a passphrase');

  const unconstrained = wardgate(['init', '--data-dir', dir, '--name', 'X'], env);
  t.equal(unconstrained.status, 2);
  t.match(unconstrained.stderr, /permit-dns/);

  t.equal(wardgate(['init', '--data-dir', dir, '--name', 'X', '--permit-dns', 'klinikum.internal', '--root-key-type', 'ecdsa-p384', '--rsa-key-type', 'rsa-2048'], env).status, 0);
  const twice = wardgate(['init', '--data-dir', dir, '--name', 'X', '--permit-dns', 'klinikum.internal'], env);
  t.match(twice.stderr, /^wardgate: error \[DATA_DIR_EXISTS\]/, 'init never overwrites a CA');

  const { csr: weak } = makeCsr(work, 'weak', { key: 'rsa1024', cn: 'a.klinikum.internal' });
  const r1 = wardgate(['issue', '--data-dir', dir, '--csr', weak, '--out', join(work, 'x.pem')], env);
  t.equal(r1.status, 1);
  t.match(r1.stderr, /^wardgate: error \[CSR_KEY_REJECTED\]: CSR key RSA-1024 is not allowed.*\n$/);
  const { csr: pub } = makeCsr(work, 'public', { key: 'ec256', cn: 'www.example.com' });
  const r2 = wardgate(['issue', '--data-dir', dir, '--csr', pub, '--out', join(work, 'y.pem')], env);
  t.match(r2.stderr, /^wardgate: error \[NAME_NOT_PERMITTED\]: .*www\.example\.com.*\n$/);
  t.notOk(existsSync(join(work, 'x.pem')) || existsSync(join(work, 'y.pem')), 'no output file for a refused request');

  const wrong = wardgate(['list', '--data-dir', dir], { WARDGATE_CA_PASSPHRASE: 'wrong' });
  t.equal(wrong.status, 1);
  t.match(wrong.stderr, /^wardgate: error \[PASSPHRASE_WRONG\]: cannot decrypt CA key "ecdsa-1".*\n$/, 'a wrong passphrase is named as such');
  t.notMatch(wrong.stderr + wrong.stdout, /PRIVATE KEY/);

  const unknown = wardgate(['issue', '--data-dir', dir, '--frobnicate'], env);
  t.equal(unknown.status, 2, 'unknown option is a usage error');
  t.match(unknown.stderr, /unknown option '--frobnicate'/);
  const missing = wardgate(['issue', '--data-dir', join(work, 'nope'), '--name', 'a.klinikum.internal', '--key-out', join(work, 'z.key'), '--out', join(work, 'z.pem')], env);
  t.equal(missing.status, 1);
  t.match(missing.stderr, /^wardgate: error \[DATA_DIR_MISSING\]/);
});

t.test('issue: unreadable inputs, unwritable outputs and a misplaced --key are refused before the CA signs anything', async (t) => {
  const work = tempDir(t);
  const dir = join(work, 'data');
  t.equal(wardgate(['init', '--data-dir', dir, '--name', 'X', '--permit-dns', 'klinikum.internal', '--root-key-type', 'ecdsa-p256', '--rsa-key-type', 'rsa-2048'], env).status, 0);
  const issuedCount = () => (JSON.parse(wardgate(['list', '--data-dir', dir, '--json'], env).stdout) as unknown[]).length;
  const { csr, key } = makeCsr(work, 'ct', { key: 'ec256', cn: 'ct1.klinikum.internal' });

  const noCsr = wardgate(['issue', '--data-dir', dir, '--csr', join(work, 'missing.csr'), '--out', join(work, 'a.pem')], env);
  t.equal(noCsr.status, 2, 'a missing --csr file is a usage error');
  t.match(noCsr.stderr, /^wardgate: error \[CLI_ARGUMENT\]: cannot read --csr .*missing\.csr: ENOENT\n$/, 'one line naming the option and the file');

  const noKey = wardgate(['issue', '--data-dir', dir, '--csr', csr, '--key', join(work, 'missing.key'), '--pkcs12', join(work, 'a.p12')], env);
  t.match(noKey.stderr, /^wardgate: error \[CLI_ARGUMENT\]: cannot read --key .*missing\.key: ENOENT\n$/);

  const noDir = wardgate(['issue', '--data-dir', dir, '--csr', csr, '--out', join(work, 'no-such-dir', 'a.pem')], env);
  t.equal(noDir.status, 2);
  t.match(noDir.stderr, /cannot write --out .*no-such-dir.*does not exist/);
  const noKeyDir = wardgate(['issue', '--data-dir', dir, '--name', 'lis.klinikum.internal', '--key-out', join(work, 'no-such-dir', 'lis.key'), '--out', join(work, 'lis.pem')], env);
  t.match(noKeyDir.stderr, /cannot write --key-out .*no-such-dir.*does not exist/, 'a CA-made key is not made when it could not be saved');
  t.notOk(existsSync(join(work, 'lis.pem')), 'and no certificate file written');

  const keyAsType = wardgate(['issue', '--data-dir', dir, '--name', 'ws.klinikum.internal', '--key', 'rsa-2048', '--pkcs12', join(work, 'ws.p12')], env);
  t.equal(keyAsType.status, 2, '--key with --name (a key type given as a file) is a usage error, not silently ignored');
  t.match(keyAsType.stderr, /--key FILE goes with --csr.*--key-type/);
  const keyNowhere = wardgate(['issue', '--data-dir', dir, '--name', 'ws.klinikum.internal', '--out', join(work, 'ws.pem')], env);
  t.match(keyNowhere.stderr, /a generated key must go somewhere/);
  t.notOk(existsSync(join(work, 'ws.pem')), 'refused before issuing, not after');

  t.equal(issuedCount(), 0, 'none of the refused commands issued a certificate');
  const ok = wardgate(['issue', '--data-dir', dir, '--csr', csr, '--key', key, '--out', join(work, 'ok.pem')], env);
  t.equal(ok.status, 0, `the corrected command works ${ok.stderr}`);
  t.equal(issuedCount(), 1);
});

t.test('--help explains every command', async (t) => {
  const help = wardgate(['--help']);
  t.equal(help.status, 0);
  for (const cmd of ['init', 'issue', 'revoke', 'crl', 'list', 'ca', 'backup', 'restore', 'audit', 'dev-certs']) t.match(help.stdout, new RegExp(`\\n  ${cmd}\\b`), `${cmd} listed`);
  t.match(wardgate(['init', '--help']).stdout, /Example:/);
});
