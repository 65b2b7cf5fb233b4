/**
 * A store far larger than format 2 could hold (one JSON string, capped by V8 at ~512 M characters, so
 * ~400 MB of store) is backed up and restored, and neither process holds it in memory. The CLI needs
 * ~180 MB to load and SQLite's caches (64 MiB for the store, as much again for VACUUM INTO's copy) fill
 * whatever the size: a peak near 350 MB for any store, so the store is made large enough (1 GB) that
 * "well under half its size" tells streaming from holding it.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { statfsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN } from '../helpers/cli.ts';
import { testCa, TEST_PASSPHRASE } from '../helpers/ca.ts';
import { fillStore } from '../helpers/data-dir-checks.ts';
import type { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { CertificateAuthority } from '../../src/pki/ca.ts';

const env = { WARDGATE_CA_PASSPHRASE: TEST_PASSPHRASE };
const STORE_MB = 1000;
const CERTS = 5_000;
/** Reports the process's own peak RSS (getrusage) on stderr as it exits: no external tool needed. */
const REPORT_RSS = `data:text/javascript,process.on('exit',()=>process.stderr.write('maxrss-kb='+process.resourceUsage().maxRSS+'\\n'))`;

function run(args: string[]): { status: number | null; stdout: string; stderr: string; maxRss: number } {
  const r = spawnSync(process.execPath, ['--import', REPORT_RSS, BIN, ...args], {
    encoding: 'utf8', timeout: 120_000, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
  });
  const kb = /maxrss-kb=(\d+)\n/.exec(r.stderr)?.[1];
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.replace(/maxrss-kb=\d+\n/, ''), maxRss: kb ? Number(kb) * 1024 : NaN };
}

/**
 * Store, its snapshot, the archive and the restored copy exist at once (~3.3x the store): a machine whose
 * temp disk cannot hold that cannot run this test (one CI machine of this kind had 287 MB free).
 */
const NEED_BYTES = 3.5 * STORE_MB * 1_000_000;
const free = (() => { const f = statfsSync(tmpdir()); return f.bavail * f.bsize; })();
const noRoom = free < NEED_BYTES ? `needs ${(NEED_BYTES / 1e9).toFixed(1)} GB free in ${tmpdir()}, has ${(free / 1e9).toFixed(1)} GB` : false;

t.test(`a ${STORE_MB} MB store: backup and restore in bounded memory`, { skip: noRoom }, async (t) => {
  const { ca, dir, work } = await testCa(t);
  const store = ca.store as unknown as SqliteStore;
  // Real certificate rows (they compress) plus incompressible ballast to reach the size quickly.
  fillStore(store as never, CERTS);
  store.db.exec('CREATE TABLE ballast (b BLOB)');
  const insert = store.db.prepare('INSERT INTO ballast (b) VALUES (?)');
  store.db.transaction(() => { for (let i = 0; i < STORE_MB; i++) insert.run(randomBytes(1 << 20)); })();
  ca.close();
  const size = statSync(join(dir, 'wardgate.db')).size;
  t.ok(size > STORE_MB * 1_000_000, `the store is ${size} bytes`);

  const archive = join(work, 'large.wgb');
  const b = run(['backup', '-d', dir, '--out', archive]);
  t.equal(b.status, 0, b.stderr);
  t.ok(statSync(archive).size > size * 0.9, `the archive holds it: ${statSync(archive).size} bytes`);
  t.ok(b.maxRss < size / 2, `backup peak RSS ${(b.maxRss / 1e6).toFixed(0)} MB, under half the ${(size / 1e6).toFixed(0)} MB store`);

  const target = join(work, 'restored');
  const r = run(['restore', '-d', target, '--from', archive]);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /store intact, audit chain of \d+ entries verifies/);
  t.ok(r.maxRss < size / 2, `restore peak RSS ${(r.maxRss / 1e6).toFixed(0)} MB, under half the ${(size / 1e6).toFixed(0)} MB store`);

  const restored = await CertificateAuthority.open(target, { passphrase: TEST_PASSPHRASE });
  t.teardown(() => restored.close());
  t.equal(restored.store.countCertificates(), CERTS, 'every certificate is back');
  const ballast = (restored.store as unknown as SqliteStore).db.prepare('SELECT count(*) AS n, sum(length(b)) AS bytes FROM ballast').get() as { n: number; bytes: number };
  t.same(ballast, { n: STORE_MB, bytes: STORE_MB * (1 << 20) }, 'and every byte of the rest');
});
