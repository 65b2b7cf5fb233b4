import t from 'tap';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { MIGRATIONS } from '../../src/store/sqlite/migrations.ts';
import { verifyAuditChain } from '../../src/store/audit-chain.ts';
import type { CertificateRecord } from '../../src/store/types.ts';
import { tempDir } from '../helpers/tmp.ts';
import { rejectsWithCode } from '../helpers/errors.ts';

function record(serial: string, over: Partial<CertificateRecord> = {}): CertificateRecord {
  const now = new Date();
  return {
    serial, issuerId: 'ecdsa-1', profile: 'dicom-node', names: ['ct1.klinikum.internal', '10.20.0.5'],
    notBefore: now.toISOString(), notAfter: new Date(now.getTime() + 86_400_000).toISOString(), status: 'valid',
    pem: '-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n', createdAt: now.toISOString(), ...over,
  };
}

t.test('migrations set user_version and a reopen keeps every record', async (t) => {
  const file = join(tempDir(t), 'w.db');
  const s = new SqliteStore(file);
  s.insertCertificate(record('0a'), { event: 'cert.issue', actor: 'test', data: { serial: '0a' } });
  s.close();
  const raw = new Database(file, { readonly: true });
  t.equal(raw.pragma('user_version', { simple: true }), MIGRATIONS.length, 'schema at the latest version');
  t.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
  raw.close();
  const again = new SqliteStore(file);
  t.teardown(() => again.close());
  t.same(again.getCertificate('0a')?.names, ['ct1.klinikum.internal', '10.20.0.5'], 'names survive a reopen in order');
  t.equal(again.countCertificates(), 1);
});

t.test('a duplicate serial is refused and nothing half-written remains', async (t) => {
  const s = new SqliteStore(join(tempDir(t), 'w.db'));
  t.teardown(() => s.close());
  s.insertCertificate(record('0b'), { event: 'cert.issue', actor: 'test', data: {} });
  const head = s.auditHead();
  await rejectsWithCode(t, () => s.insertCertificate(record('0b'), { event: 'cert.issue', actor: 'test', data: {} }), 'STORE_CONFLICT', /0b/, 'duplicate serial');
  t.same(s.auditHead(), head, 'the audit entry of the failed insert was rolled back with it');
});

t.test('revocation is compare-and-swap', async (t) => {
  const s = new SqliteStore(join(tempDir(t), 'w.db'));
  t.teardown(() => s.close());
  s.insertCertificate(record('0c'));
  const at = new Date().toISOString();
  t.equal(s.revokeCertificate('0c', 1, at), true, 'first revocation changes the row');
  t.equal(s.revokeCertificate('0c', 4, at), false, 'second revocation changes nothing');
  t.equal(s.getCertificate('0c')?.revocationReason, 1, 'the first reason stands');
  t.equal(s.revokeCertificate('ff', 1, at), false, 'unknown serial');
  t.same(s.listRevoked('ecdsa-1', at).map((r) => r.serial), ['0c']);
  t.same(s.listRevoked('rsa-1', at), [], 'CRLs are per issuer');
  t.equal(s.countRevoked('ecdsa-1'), 1, 'the revocation count (the CRL cache change check) is per issuer');
  t.equal(s.countRevoked('rsa-1'), 0);
});

t.test('queries: status, expiring, paging; counters are monotonic; renew-after', async (t) => {
  const s = new SqliteStore(join(tempDir(t), 'w.db'));
  t.teardown(() => s.close());
  const soon = new Date(Date.now() + 3_600_000).toISOString();
  for (let i = 0; i < 10; i++) s.insertCertificate(record(`1${i}`, i < 3 ? { notAfter: soon } : {}));
  s.revokeCertificate('19', 0, new Date().toISOString());
  t.equal(s.countCertificates({ status: 'valid' }), 9);
  t.equal(s.countCertificates({ expiringBefore: new Date(Date.now() + 7_200_000).toISOString() }), 3);
  t.equal(s.listCertificates({ limit: 4, offset: 8 }).length, 2);
  t.same([s.nextCounter('crl:x'), s.nextCounter('crl:x'), s.nextCounter('crl:y')], [1, 2, 1]);
  t.equal(s.setRenewAfter(['10', '11'], soon), 2);
  t.equal(s.getCertificate('10')?.renewAfter, soon);
  t.equal(s.setRenewAfter('all', soon), 9, 'all valid certificates (the revoked one is left alone)');
});

t.test('the audit chain detects edited, deleted and tail-deleted entries', async (t) => {
  const dir = tempDir(t);
  const make = (name: string) => {
    const file = join(dir, name);
    const s = new SqliteStore(file);
    for (let i = 0; i < 5; i++) s.appendAudit({ event: 'test.event', actor: 'test', data: { i } });
    s.close();
    return file;
  };
  const verify = (file: string) => {
    const s = new SqliteStore(file, { readonly: true });
    try {
      return verifyAuditChain(s.readAudit(), s.auditHead());
    } finally {
      s.close();
    }
  };
  const intact = make('ok.db');
  t.equal(verify(intact).entries, 5, 'an untouched chain verifies');

  const cases: [string, string, RegExp][] = [
    ['edited', `UPDATE audit_log SET data='{"i":99}' WHERE seq=3`, /entry 3 .*modified/],
    ['deleted', 'DELETE FROM audit_log WHERE seq=2', /entry 2 is missing/],
    ['tail deleted', 'DELETE FROM audit_log WHERE seq=5', /recorded head is entry 5/],
    ['rehashed edit', `UPDATE audit_log SET data='{"i":99}', hash='${'1'.repeat(64)}' WHERE seq=4`, /entry 4 .*modified/],
  ];
  for (const [name, sql, msg] of cases) {
    const file = make(`${name.replace(/ /g, '-')}.db`);
    const raw = new Database(file);
    raw.exec(sql);
    raw.close();
    await rejectsWithCode(t, () => verify(file), 'AUDIT_CHAIN_BROKEN', msg, name);
  }
});

t.test('relaxed(): NORMAL sync for its own commit only, FULL before and after, and never inside a transaction', async (t) => {
  const s = new SqliteStore(join(tempDir(t), 'r.db'));
  t.teardown(() => s.close());
  const sync = () => s.db.pragma('synchronous', { simple: true });
  t.equal(sync(), 2, 'FULL by default');
  t.equal(s.relaxed(() => sync()), 1, 'NORMAL inside relaxed()');
  t.equal(sync(), 2, 'FULL again after it');
  t.throws(() => s.relaxed(() => { throw new Error('boom'); }), /boom/);
  t.equal(sync(), 2, 'FULL again after a throw');
  const inTx = s.db.transaction(() => s.relaxed(() => sync()))();
  t.equal(inTx, 2, 'inside an open transaction the outer setting stays');
});
