import t from 'tap';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES } from '../src/errors.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

t.test('every error code is documented in docs/errors.md with its meaning', async (t) => {
  const doc = readFileSync(join(root, 'docs', 'errors.md'), 'utf8');
  const documented = new Set([...doc.matchAll(/^\| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1]));
  for (const code of Object.keys(ERROR_CODES)) t.ok(documented.has(code), `${code} is documented`);
  for (const code of documented) t.ok(code in ERROR_CODES, `${code} in docs/errors.md still exists`);
});

t.test('every registered code is thrown somewhere (no dead codes)', async (t) => {
  const src = sourceFiles(join(root, 'src')).filter((f) => !f.endsWith('errors.ts')).map((f) => readFileSync(f, 'utf8')).join('\n');
  for (const code of Object.keys(ERROR_CODES)) t.ok(src.includes(`'${code}'`), `${code} is used in src/`);
});
