import t from 'tap';
import { existsSync, readFileSync, statSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseCsr } from '../../src/pki/csr.ts';
import { CertificateAuthority } from '../../src/pki/ca.ts';
import { readBackup, restoreBackup, writeBackup } from '../../src/store/backup.ts';
import { verifyAuditChain } from '../../src/store/audit-chain.ts';
import { testCa, TEST_PASSPHRASE } from '../helpers/ca.ts';
import { makeCsr, verifyChain } from '../helpers/openssl.ts';
import { rejectsWithCode } from '../helpers/errors.ts';

async function issue(ca: CertificateAuthority, work: string, name: string, key: 'ec256' | 'rsa2048' = 'ec256') {
  const csr = await parseCsr(readFileSync(makeCsr(work, name, { key, cn: `${name}.klinikum.internal` }).csr));
  return ca.issue({ spki: csr.spki, keyType: csr.keyType, identifiers: csr.identifiers, profile: 'dicom-node' });
}

function splitChain(pem: string): [string, string] {
  const [leaf, mid] = pem.split(/(?<=-----END CERTIFICATE-----\n)/);
  return [leaf, mid];
}

t.test('CA keys are encrypted PKCS#8, mode 0600, and the passphrase is checked at open', async (t) => {
  const { ca, dir } = await testCa(t);
  const keysDir = join(dir, 'ca', 'keys');
  for (const f of readdirSync(keysDir)) {
    const text = readFileSync(join(keysDir, f), 'utf8');
    t.match(text, /^-----BEGIN ENCRYPTED PRIVATE KEY-----/, `${f} is encrypted PKCS#8`);
    t.equal(statSync(join(keysDir, f)).mode & 0o777, 0o600, `${f} is 0600`);
  }
  ca.close();
  await rejectsWithCode(t, CertificateAuthority.open(dir, { passphrase: 'wrong' }), 'PASSPHRASE_WRONG', /passphrase/i, 'wrong passphrase');
  const again = await CertificateAuthority.open(dir, { passphrase: TEST_PASSPHRASE });
  again.close();
});

t.test('root offline, then rollover with the exported root: old and new chains both verify', async (t) => {
  const { ca, dir, work } = await testCa(t);
  const before = await issue(ca, work, 'old');
  const exported = await ca.exportRootKey();
  ca.commitRootOffline();
  t.notOk(existsSync(join(dir, 'ca', 'keys', 'root.key.pem')), 'root key removed from the data dir');
  t.ok(ca.meta.root.offline);
  await rejectsWithCode(t, ca.rollover(['ecdsa']), 'ROOT_KEY_OFFLINE', /--root-key/, 'rollover without the offline root key');

  const created = await ca.rollover(['ecdsa', 'rsa'], { offlineRootKeyPem: exported });
  t.same(created.map((c) => c.id), ['ecdsa-2', 'rsa-2']);
  t.notOk(existsSync(join(dir, 'ca', 'keys', 'root.key.pem')), 'the offline root key did not land in the data dir again');
  t.equal(readFileSync(join(dir, 'ca', 'intermediate.pem'), 'utf8'), ca.issuerPem('ecdsa-2'), 'intermediate.pem now holds the new ECDSA issuer');

  const after = await issue(ca, work, 'new');
  t.equal(after.record.issuerId, 'ecdsa-2', 'new leaves come from the new intermediate');
  const rsaAfter = await issue(ca, work, 'newrsa', 'rsa2048');
  t.equal(rsaAfter.record.issuerId, 'rsa-2');
  for (const [label, chain] of [['old leaf', before.chainPem], ['new leaf', after.chainPem], ['new rsa leaf', rsaAfter.chainPem]] as const) {
    const [leaf, mid] = splitChain(chain);
    const v = verifyChain(ca.rootPem, mid, leaf, work);
    t.ok(v.ok, `${label} verifies: ${v.output.trim()}`);
  }
  // The old intermediate still signs CRLs for what it issued.
  ca.revoke(before.record.serial, 1);
  const crl = await ca.crl('ecdsa-1');
  t.ok(crl.findRevoked(before.record.serial), 'old intermediate CRL lists the revoked old leaf');
  t.equal(verifyAuditChain(ca.store.readAudit(), ca.store.auditHead()).entries > 4, true, 'audit chain verifies after rollover');
});

t.test('backup while online, restore into an empty dir, then issue from the restored CA', async (t) => {
  const { ca, dir, work } = await testCa(t);
  const issued = await issue(ca, work, 'kept');
  const archive = join(work, 'backup.wgb');
  await writeBackup({ dataDir: dir, caDir: join(dir, 'ca'), store: ca.store, storeFile: join(dir, 'wardgate.db'), passphrase: 'backup-pass', out: archive });
  const bytes = readFileSync(archive);
  t.notOk(bytes.includes(Buffer.from('PRIVATE KEY')), 'no key material in the clear');
  t.notOk(bytes.includes(Buffer.from(issued.record.serial)), 'the archive is encrypted');
  await rejectsWithCode(t, () => readBackup(archive, 'wrong'), 'PASSPHRASE_WRONG', /wrong passphrase/, 'wrong backup passphrase');

  const target = join(work, 'restored');
  restoreBackup(readBackup(archive, 'backup-pass'), target);
  await rejectsWithCode(t, () => restoreBackup(readBackup(archive, 'backup-pass'), target), 'DATA_DIR_EXISTS', /not empty|already/, 'restore over an existing dir');
  const restored = await CertificateAuthority.open(target, { passphrase: TEST_PASSPHRASE });
  t.teardown(() => restored.close());
  t.equal(restored.store.getCertificate(issued.record.serial)?.serial, issued.record.serial, 'issued certificate restored');
  const next = await issue(restored, work, 'after-restore');
  const [leaf, mid] = splitChain(next.chainPem);
  t.ok(verifyChain(restored.rootPem, mid, leaf, work).ok, 'the restored CA issues certificates that verify');
  t.ok(verifyAuditChain(restored.store.readAudit(), restored.store.auditHead()).entries >= 2, 'audit chain verifies in the restored store');
});
