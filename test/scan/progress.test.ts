/** The progress bar draws on a TTY only, and never when CI is set or output is piped. */
import { Writable } from 'node:stream';
import t from 'tap';
import { progressBar } from '../../src/cli/progress.ts';

function stream(isTTY: boolean): { s: NodeJS.WriteStream; text: () => string } {
  const chunks: string[] = [];
  const w = new Writable({ write(c, _e, cb) { chunks.push(String(c)); cb(); } }) as unknown as NodeJS.WriteStream;
  Object.assign(w, { isTTY, columns: 100 });
  return { s: w, text: () => chunks.join('') };
}

t.test('quiet when not a TTY', async (t) => {
  const { s, text } = stream(false);
  const bar = progressBar('scan', 10, s);
  bar.update(5);
  bar.finish();
  t.equal(text(), '');
});

t.test('draws on a TTY (unless CI is set)', async (t) => {
  const saved = process.env.CI;
  delete process.env.CI;
  t.teardown(() => { if (saved !== undefined) process.env.CI = saved; });
  const { s, text } = stream(true);
  const bar = progressBar('scan', 4, s);
  bar.update(2, '3 open');
  bar.update(4, '5 open');
  bar.finish();
  t.match(text(), /\rscan \[#+-*\] 2\/4 \d+s 3 open/);
  t.match(text(), /4\/4 \d+s 5 open/);
  t.ok(text().endsWith('\n'), 'ends its line');
  process.env.CI = '1';
  const other = stream(true);
  progressBar('scan', 4, other.s).update(4);
  t.equal(other.text(), '', 'silent in CI');
});
