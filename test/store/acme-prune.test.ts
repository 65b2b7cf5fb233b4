import t from 'tap';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { MIGRATIONS, migrate } from '../../src/store/sqlite/migrations.ts';
import { pruneExpiredOrders } from '../../src/acme/housekeeping.ts';
import type { PruneCounts } from '../../src/store/acme-types.ts';
import { DAY, certFor, danglingReferences, ids, iso, seedOrder } from '../helpers/acme-orders.ts';
import { tempDir } from '../helpers/tmp.ts';

const loop = fileURLToPath(new URL('../helpers/prune-loop.ts', import.meta.url));
// A fixed "now" far from the real clock: nothing here depends on when the test runs.
const NOW = Date.parse('2031-03-10T12:00:00.000Z');
const RETENTION = 7 * DAY;
const CUTOFF = iso(NOW - RETENTION);
const NONE = { challengesWithoutAuthz: 0, authzsWithoutOrder: 0, ordersListingMissingAuthz: 0 };

t.test('pruneExpired deletes exactly the unfinished orders past the cutoff, with what they own', async (t) => {
  const s = new SqliteStore(join(tempDir(t), 'w.db'));
  t.teardown(() => s.close());
  const acme = s.acme;
  acme.insertAccount({ id: 'acct-a', thumbprint: 'tp-a', jwk: { kty: 'EC' }, status: 'valid', contact: [], createdAt: iso(NOW - 60 * DAY) });
  acme.insertAccount({ id: 'acct-b', thumbprint: 'tp-b', jwk: { kty: 'EC' }, status: 'valid', contact: [], createdAt: iso(NOW - 60 * DAY) });

  const old = NOW - 8 * DAY; // expired, and past the retention
  // A valid order long past its expiry, with its certificate: kept forever.
  seedOrder(acme, { id: 'o01-valid-old', status: 'processing', expires: NOW - 30 * DAY, names: 2 });
  t.ok(await acme.completeOrder('o01-valid-old', certFor('o01-valid-old', '0a01'), { event: 'cert.issue', actor: 'test', data: { serial: '0a01' } }));
  const gone = [
    seedOrder(acme, { id: 'o02-pending-old', status: 'pending', expires: old, names: 2 }),
    seedOrder(acme, { id: 'o03-ready-old', status: 'ready', expires: old }),
    seedOrder(acme, { id: 'o04-invalid-old', status: 'invalid', expires: old }),
    seedOrder(acme, { id: 'o05-deactivated-old', status: 'invalid', authzStatus: 'deactivated', expires: old }),
    // Lists the valid order's authorization as well: deleting this order must not take that one along.
    seedOrder(acme, { id: 'o06-borrower-old', status: 'invalid', expires: old, alsoLists: ['o01-valid-old-a0'] }),
    seedOrder(acme, { id: 'o07-other-account-old', accountId: 'acct-b', status: 'pending', expires: old }),
    // A validation a crash interrupted on an order that then expired: resumeProcessingChallenges skips it.
    seedOrder(acme, { id: 'o08-stuck-challenge-old', status: 'pending', challengeStatus: 'processing', expires: old }),
  ];
  const kept = [
    seedOrder(acme, { id: 'o09-processing-old', status: 'processing', expires: old }),
    seedOrder(acme, { id: 'o10-pending-recent', status: 'pending', expires: NOW - DAY }),
    seedOrder(acme, { id: 'o11-pending-at-cutoff', status: 'pending', expires: NOW - RETENTION }),
    seedOrder(acme, { id: 'o12-pending-future', status: 'pending', expires: NOW + 5 * DAY }),
    seedOrder(acme, { id: 'o13-invalid-future', status: 'invalid', expires: NOW + 5 * DAY }),
    seedOrder(acme, { id: 'o14-ready-recent', status: 'ready', expires: NOW - DAY }),
  ];
  const certsBefore = s.listCertificates();
  const headBefore = s.auditHead();
  const accountsBefore = [acme.getAccount('acct-a'), acme.getAccount('acct-b')];
  const allAuthzs = ids(s.db, 'acme_authzs');
  const allChallenges = ids(s.db, 'acme_challenges');

  const n = acme.pruneExpired(CUTOFF, 1000);
  const goneAuthzs = gone.flatMap((g) => g.authzIds);
  const goneChallenges = gone.flatMap((g) => g.challengeIds);
  t.same(n, { orders: gone.length, authzs: goneAuthzs.length, challenges: goneChallenges.length }, 'counts what it deleted');
  t.same(ids(s.db, 'acme_orders'), ['o01-valid-old', 'o09-processing-old', 'o10-pending-recent', 'o11-pending-at-cutoff', 'o12-pending-future', 'o13-invalid-future', 'o14-ready-recent'],
    'valid and processing orders stay whatever their age; unfinished ones stay until retention after expiry (exclusive)');
  t.same(ids(s.db, 'acme_authzs'), allAuthzs.filter((id) => !goneAuthzs.includes(id)), 'exactly the pruned orders\' authorizations are gone');
  t.same(ids(s.db, 'acme_challenges'), allChallenges.filter((id) => !goneChallenges.includes(id)), 'exactly their challenges are gone');
  t.ok(acme.getAuthz('o01-valid-old-a0'), 'the valid order\'s authorization another (pruned) order listed is still there');
  t.equal(acme.listChallenges('o01-valid-old-a1').length, 3, 'and so are the valid order\'s challenges');
  t.same(danglingReferences(s.db), NONE, 'no challenge without its authorization, no authorization without its order, no order listing a missing one');
  t.same(s.listCertificates(), certsBefore, 'certificates untouched');
  t.equal(acme.certificateForOrder('o01-valid-old')?.serial, '0a01', 'the certificate still leads to its order');
  t.same(s.auditHead(), headBefore, 'nothing appended to (or removed from) the audit log');
  t.same([acme.getAccount('acct-a'), acme.getAccount('acct-b')], accountsBefore, 'accounts untouched');
  t.ok(kept.flatMap((k) => k.authzIds).every((id) => acme.getAuthz(id)), 'every kept order keeps all its authorizations');

  // The orders list as of a month earlier, when none of these had expired: what it shows is what remains.
  const listed = (account: string) => acme.listOrders(account, { now: iso(NOW - 30 * DAY), limit: 100 }).map((o) => o.id);
  t.same(listed('acct-a'), ['o01-valid-old', 'o09-processing-old', 'o11-pending-at-cutoff', 'o10-pending-recent', 'o14-ready-recent', 'o12-pending-future'],
    'the account\'s orders list (§7.1.2.1) lists what remains but invalid orders, in creation order');
  t.same(listed('acct-b'), [], 'the other account\'s pruned order is gone from its list');

  // The pending order that has not expired still goes all the way: challenge -> authz valid -> order ready.
  t.ok(acme.casChallenge('o12-pending-future-a0-http-01', 'pending', 'processing'));
  t.ok(acme.recordValidation('o12-pending-future-a0-http-01', { ok: true }));
  t.equal(acme.getOrder('o12-pending-future')?.status, 'ready', 'a still-pending order works after pruning');
  t.ok(acme.casOrder('o12-pending-future', 'ready', 'processing'));

  t.same(acme.pruneExpired(CUTOFF, 1000), { orders: 0, authzs: 0, challenges: 0 }, 'a second run finds nothing');
  s.checkIntegrity();
});

t.test('a backlog of 20,000 expired orders drains in bounded transactions, yielding between them', async (t) => {
  const s = new SqliteStore(join(tempDir(t), 'w.db'));
  t.teardown(() => s.close());
  const acme = s.acme;
  const backlog = 20_000;
  let rowsSeeded = 0;
  s.db.transaction(() => {
    for (let i = 0; i < backlog; i++) {
      // Every 100th order has 20 identifiers (81 rows), the others one (5 rows).
      const names = i % 100 === 0 ? 20 : 1;
      seedOrder(acme, { id: `old-${String(i).padStart(5, '0')}`, status: i % 3 === 0 ? 'invalid' : 'pending', expires: NOW - 8 * DAY - i * 1000, names });
      rowsSeeded += 1 + 4 * names;
    }
    for (let i = 0; i < 50; i++) seedOrder(acme, { id: `new-${i}`, status: 'pending', expires: NOW + DAY });
  })();

  const batchRows: number[] = [];
  const batchMs: number[] = [];
  const turnsSeen: boolean[] = [];
  let turned = true;
  const real = acme.pruneExpired.bind(acme);
  acme.pruneExpired = (before, maxRows) => {
    // Did the event loop get a turn (setImmediate callbacks ran) since the previous batch?
    turnsSeen.push(turned);
    turned = false;
    setImmediate(() => { turned = true; });
    const started = performance.now();
    const n = real(before, maxRows);
    batchMs.push(performance.now() - started);
    batchRows.push(n.orders + n.authzs + n.challenges);
    return n;
  };
  const run = await pruneExpiredOrders(acme, new Date(NOW - 7 * DAY), { batchRows: 1000 });

  t.equal(run.orders, backlog, 'every expired order is gone');
  t.equal(run.orders + run.authzs + run.challenges, rowsSeeded, 'with all its rows');
  t.ok(run.batches >= Math.ceil(rowsSeeded / 1081) && run.batches <= Math.ceil(rowsSeeded / 1000) + 1, `${run.batches} transactions for ${rowsSeeded} rows`);
  t.ok(batchRows.every((n) => n < 1000 + 81), `no transaction deletes more than the batch size plus one order (largest ${Math.max(...batchRows)} rows)`);
  t.ok(batchRows.slice(0, -1).every((n) => n >= 1000), 'every batch but the last is full');
  t.ok(batchRows[batchRows.length - 1] < 1000, 'the run ends on a batch that was not full');
  t.ok(turnsSeen.every(Boolean), 'the event loop ran between every two batches');
  const sorted = [...batchMs].sort((a, b) => a - b);
  t.comment(`per batch: median ${sorted[sorted.length >> 1].toFixed(1)} ms, max ${sorted[sorted.length - 1].toFixed(1)} ms (run.slowestBatchMs ${run.slowestBatchMs.toFixed(1)})`);
  t.equal(ids(s.db, 'acme_orders').length, 50, 'the orders that have not expired remain');
  t.same(danglingReferences(s.db), NONE);

  const aborted = new AbortController();
  aborted.abort();
  t.equal((await pruneExpiredOrders(acme, new Date(NOW), { signal: aborted.signal })).batches, 0, 'an aborted run starts no batch');
});

t.test('migration 4 applies to a version-3 database that holds orders, and pruning uses its indexes', async (t) => {
  const file = join(tempDir(t), 'v3.db');
  const raw = new Database(file);
  migrate(raw, MIGRATIONS.slice(0, 3));
  t.equal(raw.pragma('user_version', { simple: true }), 3);
  // Rows exactly as the previous version wrote them.
  const order = raw.prepare(`INSERT INTO acme_orders (id, account_id, status, identifiers, profile, authz_ids, expires, created_at, updated_at)
    VALUES (?, 'acct-a', ?, '[{"type":"ip","value":"10.20.0.5"}]', 'dicom-node', ?, ?, ?, ?)`);
  const authz = raw.prepare(`INSERT INTO acme_authzs (id, account_id, order_id, identifier, status, expires) VALUES (?, 'acct-a', ?, '{"type":"ip","value":"10.20.0.5"}', ?, ?)`);
  const chall = raw.prepare(`INSERT INTO acme_challenges (id, authz_id, type, token, status) VALUES (?, ?, 'http-01', ?, ?)`);
  for (const [id, status, expires] of [['v3-old', 'pending', NOW - 9 * DAY], ['v3-new', 'pending', NOW + DAY], ['v3-valid', 'valid', NOW - 9 * DAY]] as const) {
    order.run(id, status, JSON.stringify([`${id}-a`]), iso(expires), iso(expires - 7 * DAY), iso(expires - 7 * DAY));
    authz.run(`${id}-a`, id, status, iso(expires));
    chall.run(`${id}-c`, `${id}-a`, `tok-${id}`, status);
  }
  raw.close();

  const s = new SqliteStore(file);
  t.teardown(() => s.close());
  t.equal(s.db.pragma('user_version', { simple: true }), MIGRATIONS.length, 'migrated to the latest version on open');
  const indexes = (s.db.prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND name IN ('acme_orders_unfinished_expires', 'acme_authzs_order')`).all() as { name: string }[]).map((r) => r.name).sort();
  t.same(indexes, ['acme_authzs_order', 'acme_orders_unfinished_expires']);
  const plan = (sql: string, ...args: unknown[]) => (s.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...args) as { detail: string }[]).map((r) => r.detail).join('; ');
  t.match(plan(`SELECT id FROM acme_orders INDEXED BY acme_orders_unfinished_expires WHERE status IN ('pending', 'ready', 'invalid') AND expires < ? ORDER BY expires LIMIT ?`, CUTOFF, 10),
    /SEARCH acme_orders USING INDEX acme_orders_unfinished_expires \(expires<\?\)/, 'candidates come from the partial index, already in expiry order');
  t.match(plan('DELETE FROM acme_authzs WHERE order_id = ?', 'x'), /acme_authzs_order/, 'an order\'s authorizations are found by index');
  t.same(s.acme.pruneExpired(CUTOFF, 1000), { orders: 1, authzs: 1, challenges: 1 });
  t.same(ids(s.db, 'acme_orders'), ['v3-new', 'v3-valid']);
  t.equal(s.acme.getOrder('v3-valid')?.status, 'valid', 'rows written by the previous version read back');
});

t.test('kill -9 in the middle of a prune leaves every order whole or gone', async (t) => {
  const file = join(tempDir(t), 'w.db');
  const s = new SqliteStore(file);
  const total = 6000;
  s.db.transaction(() => {
    for (let i = 0; i < total; i++) seedOrder(s.acme, { id: `k-${String(i).padStart(5, '0')}`, status: 'pending', expires: NOW - 8 * DAY - i, names: 2 });
  })();
  s.close();

  // The child prunes 100 rows (12 orders of 9 rows) per transaction and prints each batch's orders after it committed.
  const child = spawn(process.execPath, ['--import', 'tsx', loop, file, CUTOFF, '100'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const committed: number[] = [];
  let buffered = '';
  const killAfter = 10 + Math.floor(Math.random() * 40);
  const exit = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    committed.push(...lines.map(Number));
    if (committed.length >= killAfter) child.kill('SIGKILL');
  });
  t.equal(await exit, 'SIGKILL', `killed after ${committed.length} reported batches`);
  const reported = committed.reduce((a, b) => a + b, 0);
  t.ok(reported < total, 'killed before the backlog was gone');

  const again = new SqliteStore(file);
  t.teardown(() => again.close());
  again.checkIntegrity();
  const left = ids(again.db, 'acme_orders').length;
  t.ok(left <= total - reported, `every reported batch stayed deleted (${total - left} of ${total} gone, ${reported} reported)`);
  t.ok(left >= total - reported - 12, 'at most the batch in flight is deleted beyond what was reported');
  t.same(danglingReferences(again.db), NONE, 'no challenge without its authorization, no order listing a missing authorization');
  t.equal(ids(again.db, 'acme_authzs').length, 2 * left, 'every remaining order has both its authorizations');
  t.equal(ids(again.db, 'acme_challenges').length, 6 * left, 'and all their challenges');
  t.same(again.acme.pruneExpired(CUTOFF, 100_000).orders, left, 'the next run deletes the rest');
});
