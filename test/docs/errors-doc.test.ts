/**
 * docs/errors.md is generated from src/errors.ts (`npm run docs:errors`); test/errors.test.ts checks that
 * every code has a row, this one that each row still says what the code means today, so a meaning
 * changed in src/errors.ts without regenerating the doc fails here.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ERROR_CODES } from '../../src/errors.ts';

t.test('docs/errors.md rows match src/errors.ts', async (t) => {
  const doc = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'errors.md'), 'utf8');
  const rows = new Map([...doc.matchAll(/^\| `([A-Z0-9_]+)` \| (.*) \|$/gm)].map((m) => [m[1], m[2]]));
  t.same([...rows.keys()], Object.keys(ERROR_CODES), 'same codes, same order');
  const stale = Object.entries(ERROR_CODES).filter(([code, meaning]) => rows.get(code) !== meaning).map(([code]) => code);
  t.same(stale, [], 'run `npm run docs:errors` after changing a meaning');
});
