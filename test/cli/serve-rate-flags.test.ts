/**
 * `wardgate serve|dev --rate-requests N` / `--rate-orders N`: a rate of 0 used to start a server that
 * answered every request 429 with `Retry-After: Infinity` (its sibling options read 0 as "no limit").
 * It is a one-line usage error now, before anything listens.
 */
import { join } from 'node:path';
import t from 'tap';
import { wardgate } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';

const HOST = '127.58.4.1';

for (const option of ['--rate-requests', '--rate-orders']) {
  for (const value of ['0', '-5', 'many']) {
    t.test(`${option} ${value}`, async (t) => {
      const dir = join(tempDir(t, 'wardgate-rate-'), 'dev');
      const r = wardgate(['dev', '-d', dir, '--listen', `${HOST}:14900`, option, value]);
      t.equal(r.status, 2, r.stderr);
      t.equal(r.stderr.split('\n').filter((l) => l.startsWith('wardgate: error')).join('\n'),
        `wardgate: error [CLI_ARGUMENT]: ${option} "${value}" is not a number above 0 (a rate of 0 would refuse every request)`);
    });
  }
}
