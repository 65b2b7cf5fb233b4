/**
 * Keeps docs/ihe-profile/*.md, requirements.json and the kit's check registry in step: every bolded
 * requirement ID in the markdown is in requirements.json (and back), defined once, with the same
 * level; every non-manual check exists in src/conformance; every registered check judges something.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { CHECK_REGISTRY, loadRequirements, REQUIREMENTS_PATH, validateRequirements } from '../../src/conformance/index.ts';
import { isWardgateError } from '../../src/errors.ts';

const DOCS = join(REQUIREMENTS_PATH, '..');
const BOLD_ID = /\*\*(ICM-[A-Z]+-\d{3})\*\*([^\n]*(?:\n(?![-#|\n])[^\n]*)*)/g;

function markdownRequirements(): Map<string, { file: string; text: string }[]> {
  const found = new Map<string, { file: string; text: string }[]>();
  for (const file of readdirSync(DOCS).filter((f) => f.endsWith('.md'))) {
    const text = readFileSync(join(DOCS, file), 'utf8');
    for (const m of text.matchAll(BOLD_ID)) {
      const list = found.get(m[1]) ?? [];
      list.push({ file, text: m[2].replace(/\s+/g, ' ') });
      found.set(m[1], list);
    }
  }
  return found;
}

const requirements = loadRequirements();
const md = markdownRequirements();
const json = new Map(requirements.requirements.map((r) => [r.id, r]));

t.test('every bolded ID in the markdown is in requirements.json, and back', async (t) => {
  t.ok(md.size > 50, `markdown defines ${md.size} requirements`);
  t.same([...md.keys()].filter((id) => !json.has(id)).sort(), [], 'IDs only in the markdown');
  t.same([...json.keys()].filter((id) => !md.has(id)).sort(), [], 'IDs only in requirements.json');
});

t.test('each ID is defined (bolded) exactly once', async (t) => {
  const dups = [...md.entries()].filter(([, defs]) => defs.length > 1).map(([id, defs]) => `${id} in ${defs.map((d) => d.file).join(', ')}`);
  t.same(dups, []);
});

t.test('the markdown sentence carries the level requirements.json states', async (t) => {
  const wrong: string[] = [];
  for (const [id, defs] of md) {
    const level = /\b(SHALL|SHOULD|MAY)\b/.exec(defs[0].text)?.[1];
    if (level !== json.get(id)?.level) wrong.push(`${id}: markdown ${level ?? 'no keyword'}, json ${json.get(id)?.level}`);
  }
  t.same(wrong, []);
});

t.test('every non-manual check exists in the registry; manual ones say why', async (t) => {
  for (const r of requirements.requirements) {
    if (r.check === 'manual') t.ok(r.reason && r.reason.length > 10, `${r.id} manual with a reason`);
    else t.ok(CHECK_REGISTRY.has(r.check), `${r.id} -> ${r.check} is registered`);
  }
});

t.test('every registered check judges at least one requirement', async (t) => {
  const used = new Set(requirements.requirements.map((r) => r.check));
  t.same([...CHECK_REGISTRY.keys()].filter((name) => !used.has(name)), [], 'orphan checks');
});

t.test('validation refuses unknown checks, duplicates and manual entries without a reason', async (t) => {
  const base = { id: 'ICM-TLS-001', actor: 'Relying Node', area: 'TLS', level: 'SHALL', summary: 's', check: 'tls-node:legacy-versions-refused' };
  const cases: Array<[string, unknown, RegExp]> = [
    ['unknown check', { requirements: [{ ...base, check: 'tls-node:nope' }] }, /not in the kit's check registry/],
    ['duplicate', { requirements: [base, base] }, /duplicate id/],
    ['manual without reason', { requirements: [{ ...base, check: 'manual' }] }, /needs a "reason"/],
    ['bad id', { requirements: [{ ...base, id: 'TLS-1' }] }, /ICM-AREA-NNN/],
    ['bad level', { requirements: [{ ...base, level: 'MUST' }] }, /SHALL, SHOULD or MAY/],
    ['not an object', 42, /"requirements" array/],
  ];
  for (const [label, data, message] of cases) {
    try {
      validateRequirements(data);
      t.fail(`${label}: accepted`);
    } catch (err) {
      t.ok(isWardgateError(err, 'CONFORMANCE_REQUIREMENTS_INVALID'), `${label}: typed error`);
      t.match((err as Error).message, message, `${label}: message`);
    }
  }
});
