import t, { type Test } from 'tap';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { GroupCommit } from '../../src/store/sqlite/group-commit.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { tempDir } from '../helpers/tmp.ts';

t.test('durable(): writes of one event-loop turn share a commit; one failing write is rolled back alone', async (t) => {
  const s = new SqliteStore(join(tempDir(t), 'g.db'));
  t.teardown(() => s.close());
  s.db.exec('CREATE TABLE t (k TEXT PRIMARY KEY)');
  const insert = s.db.prepare('INSERT INTO t (k) VALUES (?)');
  const txCount = () => s.db.prepare('SELECT count(*) AS n FROM t').get() as { n: number };
  // WAL frames written since the last truncating checkpoint: each commit appends its own pages.
  const walFrames = () => (s.db.pragma('wal_checkpoint(PASSIVE)') as Array<{ log: number }>)[0].log;
  s.db.pragma('wal_checkpoint(TRUNCATE)');
  const a = s.durable(() => insert.run('a').changes);
  const b = s.durable(() => insert.run('a').changes); // primary key conflict
  const c = s.durable(() => insert.run('c').changes);
  t.equal(txCount().n, 0, 'nothing is written before the turn ends');
  t.equal(await a, 1);
  await t.rejects(b, /UNIQUE constraint failed/, 'the conflicting write is rejected');
  t.equal(await c, 1, 'the write after the failing one still commits');
  const batched = walFrames();
  s.db.pragma('wal_checkpoint(TRUNCATE)');
  for (const k of ['x', 'y', 'z']) await s.durable(() => insert.run(k));
  const separate = walFrames();
  t.ok(batched < separate, `one turn's writes share a commit: ${batched} WAL frames vs ${separate} for three writes in three turns`);
  t.same(s.db.prepare('SELECT k FROM t ORDER BY k').all(), [{ k: 'a' }, { k: 'c' }, { k: 'x' }, { k: 'y' }, { k: 'z' }]);
  const d = s.durable(() => insert.run('d').changes);
  s.close();
  t.equal(await d, 1, 'close() commits what is queued');
});

/** A WAL-mode database with table t, and a GroupCommit whose WAL sync the test controls. */
function slowDisk(t: Test) {
  const path = join(tempDir(t), 'w.db');
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE t (k TEXT PRIMARY KEY)');
  const syncs: Array<{ fd: number; done: (err: Error | null) => void }> = [];
  const gc = new GroupCommit(db, `${path}-wal`, (fd, done) => syncs.push({ fd, done }));
  const insert = db.prepare('INSERT INTO t (k) VALUES (?)');
  return { path, db, gc, syncs, insert };
}

t.test('durable commits: settled only after the WAL sync, which runs off the event loop; commits during a sync share the next', async (t) => {
  const { db, gc, syncs, insert } = slowDisk(t);
  const settled: string[] = [];
  const a = gc.run(() => insert.run('a')).then(() => settled.push('a'));
  await new Promise((r) => setImmediate(r));
  t.equal(syncs.length, 1, 'the first batch asks for one sync');
  t.equal((db.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n, 1, 'the batch is committed (written to the OS) before the sync');
  // The event loop keeps turning while the disk is slow: timers fire, other batches commit.
  await new Promise((r) => setTimeout(r, 20));
  const b = gc.run(() => insert.run('b')).then(() => settled.push('b'));
  await new Promise((r) => setImmediate(r));
  const c = gc.run(() => insert.run('c')).then(() => settled.push('c'));
  await new Promise((r) => setImmediate(r));
  t.equal(syncs.length, 1, 'batches committed while a sync is in flight wait for it to end');
  t.same(settled, [], 'no write is acknowledged before its sync');
  syncs[0].done(null);
  await a;
  t.same(settled, ['a']);
  t.equal(syncs.length, 2, 'then one sync for both waiting batches');
  syncs[1].done(null);
  await Promise.all([b, c]);
  t.same(settled, ['a', 'b', 'c']);
  gc.close();
  db.close();
});

t.test('durable commits: a failed WAL sync rejects the batch (nothing acknowledged that may not be on disk)', async (t) => {
  const { db, gc, syncs, insert } = slowDisk(t);
  const a = gc.run(() => insert.run('a'));
  await new Promise((r) => setImmediate(r));
  syncs[0].done(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
  await t.rejects(a, /EIO/);
  const b = gc.run(() => insert.run('b').changes);
  await new Promise((r) => setImmediate(r));
  syncs[1].done(null);
  t.equal(await b, 1, 'the next batch syncs again and succeeds');
  gc.close();
  db.close();
});

t.test('durable commits: close() during a sync settles every write; the data is there after reopening', async (t) => {
  const { path, db, gc, syncs, insert } = slowDisk(t);
  const a = gc.run(() => insert.run('a').changes);
  await new Promise((r) => setImmediate(r));
  const b = gc.run(() => insert.run('b').changes);
  await new Promise((r) => setImmediate(r));
  const c = gc.run(() => insert.run('c').changes); // still queued when close() runs
  gc.close();
  db.close();
  t.same(await Promise.all([a, b, c]), [1, 1, 1], 'close() synced on the spot and settled the writes in flight, waiting and queued');
  syncs[0].done(null); // the pool's sync ends after close(): only closes its file
  const again = new Database(path);
  t.same(again.prepare('SELECT k FROM t ORDER BY k').all(), [{ k: 'a' }, { k: 'b' }, { k: 'c' }]);
  again.close();
});

t.test('SqliteStore.durable on a file syncs the WAL off the event loop (a real fdatasync), in memory it commits in place', async (t) => {
  const s = new SqliteStore(join(tempDir(t), 'real.db'));
  t.teardown(() => s.close());
  s.db.exec('CREATE TABLE t (k TEXT PRIMARY KEY)');
  const insert = s.db.prepare('INSERT INTO t (k) VALUES (?)');
  const results = await Promise.all(['a', 'b', 'c'].map((k) => s.durable(() => insert.run(k).changes)));
  t.same(results, [1, 1, 1]);
  t.equal(s.db.pragma('synchronous', { simple: true }), 2, 'the connection is back at FULL for the commits outside the group');
  const m = new SqliteStore(':memory:');
  t.teardown(() => m.close());
  m.db.exec('CREATE TABLE t (k TEXT PRIMARY KEY)');
  t.equal(await m.durable(() => m.db.prepare('INSERT INTO t (k) VALUES (?)').run('x').changes), 1);
});
