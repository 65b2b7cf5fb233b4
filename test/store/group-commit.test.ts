import t from 'tap';
import { join } from 'node:path';
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
