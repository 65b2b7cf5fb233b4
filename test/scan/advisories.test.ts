/** Every curated advisory carries its own test cases; this runs them, and checks the file's schema. */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAdvisories, matchAdvisory } from '../../src/scan/advisories.ts';
import { isWardgateError } from '../../src/errors.ts';
import { tempDir } from '../helpers/tmp.ts';

const advisories = loadAdvisories();

t.ok(advisories.length >= 2, `${advisories.length} advisories`);
for (const a of advisories) {
  t.test(a.id, async (t) => {
    t.match(a.source, /^https:\/\//, 'has a source URL');
    t.ok(a.cves.every((c) => /^CVE-\d{4}-\d{4,}$/.test(c)), 'CVE ids well-formed');
    for (const c of a.tests) {
      t.equal(matchAdvisory(a, c), c.expect, `${c.implementationVersionName ?? ''} ${c.implementationClassUid ?? ''} -> ${c.expect}`);
    }
  });
}

t.test('a broken advisory file is a typed error', async (t) => {
  const dir = tempDir(t);
  const cases: Array<[string, unknown]> = [
    ['not json', '{'],
    ['no array', { advisories: 3 }],
    ['http source', { advisories: [{ ...advisories[0], source: 'http://example.invalid' }] }],
    ['no negative test', { advisories: [{ ...advisories[0], tests: advisories[0].tests.filter((x) => x.expect) }] }],
    ['bad regex', { advisories: [{ ...advisories[0], rules: [{ field: 'implementationVersionName', pattern: '(', versionBelow: '1' }] }] }],
  ];
  for (const [label, doc] of cases) {
    const f = join(dir, `${label}.json`);
    writeFileSync(f, typeof doc === 'string' ? doc : JSON.stringify(doc));
    try {
      loadAdvisories(f);
      t.fail(`${label}: accepted`);
    } catch (err) {
      t.ok(isWardgateError(err, 'SCAN_ADVISORY_INVALID'), `${label}: ${(err as Error).message}`);
    }
  }
});
