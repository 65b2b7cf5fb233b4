/** Regenerates docs/errors.md from src/errors.ts (`npm run docs:errors`); test/errors.test.ts keeps them in sync. */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES } from '../../src/errors.ts';

const lines = [
  '# wardgate error codes',
  '',
  'Every error wardgate raises outside the ACME wire protocol carries one of these stable codes. The CLI',
  'prints `wardgate: error [CODE]: message` on one line and exits 1 (2 for `CLI_ARGUMENT`: a usage error).',
  'ACME clients see RFC 8555 problem documents instead (see docs/acme.md); the code is mapped to the',
  'problem type there. Generated from `src/errors.ts` by `npm run docs:errors`.',
  '',
  '| code | meaning |',
  '|---|---|',
  ...Object.entries(ERROR_CODES).map(([code, meaning]) => `| \`${code}\` | ${meaning} |`),
  '',
];
writeFileSync(fileURLToPath(new URL('../../docs/errors.md', import.meta.url)), lines.join('\n'));
