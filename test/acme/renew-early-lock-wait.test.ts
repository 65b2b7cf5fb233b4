/**
 * `wardgate renew-early --all` (RFC 9773 ARI: pull every renewal window forward) on a big store must not
 * hold SQLite's write lock for the whole update: `serve` on the same data dir blocks its event loop
 * while it waits for that lock (better-sqlite3 is synchronous). Shown with the real CLI in another
 * process and a second connection writing in a loop, as serve does: its writes commit between the
 * CLI's transactions, while the update is only partly done.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import t from 'tap';
import type { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { TEST_PASSPHRASE, testCa } from '../helpers/ca.ts';
import { BIN } from '../helpers/cli.ts';

const ROWS = 20_000;

t.test('renew-early --all writes in short transactions that other writers get between', async (t) => {
  const { ca, dir } = await testCa(t);
  const store = ca.store as SqliteStore;
  const now = Date.now();
  const pem = ca.issuerPem('ecdsa-1'); // stored only: any PEM will do for this test
  store.db.transaction(() => {
    for (let i = 0; i < ROWS; i++) {
      store.insertCertificate({ serial: randomBytes(16).toString('hex'), issuerId: 'ecdsa-1', profile: 'dicom-node', names: [`10.20.${i >> 8 & 255}.${i & 255}`],
        notBefore: new Date(now).toISOString(), notAfter: new Date(now + 90 * 86_400_000).toISOString(), status: 'valid', pem, createdAt: new Date(now).toISOString() });
    }
  })();
  const pulledForward = store.db.prepare('SELECT count(*) AS n FROM certificates WHERE renew_after IS NOT NULL');
  const count = () => (pulledForward.get() as { n: number }).n;
  t.equal(count(), 0);

  const child = spawn(process.execPath, [BIN, 'renew-early', '--all', '-d', dir], { env: { ...process.env, WARDGATE_CA_PASSPHRASE: TEST_PASSPHRASE }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d; });
  child.stderr.on('data', (d: Buffer) => { out += d; });
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  let running = true;
  void exited.then(() => { running = false; });

  // Write as serve does (a small IMMEDIATE transaction, waiting on the lock up to busy_timeout), and see
  // how far the CLI had got when each write committed.
  let writes = 0; let midUpdate = 0; let longestWaitMs = 0;
  while (running) {
    const t0 = performance.now();
    store.nextCounter('renew-early-lock-wait.test');
    longestWaitMs = Math.max(longestWaitMs, performance.now() - t0);
    writes++;
    const done = count();
    if (done > 0 && done < ROWS) midUpdate++;
    await new Promise((resolve) => setImmediate(resolve));
  }
  t.equal(await exited, 0, out);
  t.match(out, `renewal window moved to now for ${ROWS} certificates`);
  t.equal(count(), ROWS, 'every certificate pulled forward');
  t.comment(`${writes} writes from a second connection, ${midUpdate} of them committed mid-update; longest wait for the lock ${longestWaitMs.toFixed(0)} ms`);
  t.ok(midUpdate > 0, 'another connection wrote while the update was partly done: the CLI released the lock between batches');
  t.equal(store.readAudit().filter((e) => e.event === 'cert.renew-early').length, 1, 'one audit entry for the whole run');
});
