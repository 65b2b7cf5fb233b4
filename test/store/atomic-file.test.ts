/**
 * writeFileAtomic: the file appears whole under its name, a symlink under that name is replaced (not
 * followed), and a write that cannot be renamed into place leaves no temporary file behind.
 */
import { mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { writeFileAtomic } from '../../src/store/atomic-file.ts';
import { tempDir } from '../helpers/tmp.ts';

t.test('replaces a symlink instead of writing through it', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'victim'), 'precious\n');
  symlinkSync(join(dir, 'victim'), join(dir, 'out.json'));
  writeFileAtomic(join(dir, 'out.json'), '{}\n');
  t.equal(readFileSync(join(dir, 'victim'), 'utf8'), 'precious\n');
  t.equal(readFileSync(join(dir, 'out.json'), 'utf8'), '{}\n');
  t.same(readdirSync(dir).sort(), ['out.json', 'victim']);
});

t.test('a rename that fails (a directory under the name) throws and leaves no temporary file', async (t) => {
  const dir = tempDir(t);
  mkdirSync(join(dir, 'out.json'));
  writeFileSync(join(dir, 'out.json', 'inside'), 'x');
  t.throws(() => writeFileAtomic(join(dir, 'out.json'), '{}\n'), { code: /EISDIR|ENOTEMPTY|EEXIST/ });
  t.same(readdirSync(dir), ['out.json'], 'only the directory that was there');
});
