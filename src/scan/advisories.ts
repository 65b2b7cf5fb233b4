/**
 * Curated advisories for DICOM implementations (advisories/dicom-implementations.json), matched
 * against what an A-ASSOCIATE-AC reveals: Implementation Class UID and Implementation Version Name
 * (PS3.7 D.3.3.2). A rule is a regex with named groups major/minor/patch over one field and a
 * version bound; an entry matches when any rule does.
 */
import { readFileSync } from 'node:fs';
import { WardgateError } from '../errors.ts';
import type { Severity } from './types.ts';

export interface AdvisoryRule {
  field: 'implementationClassUid' | 'implementationVersionName';
  pattern: string;
  versionBelow: string;
}

export interface AdvisoryTest {
  implementationClassUid?: string;
  implementationVersionName?: string;
  expect: boolean;
}

export interface Advisory {
  id: string;
  product: string;
  title: string;
  cves: string[];
  severity: Severity;
  source: string;
  fixedIn: string;
  rules: AdvisoryRule[];
  tests: AdvisoryTest[];
}

export interface Implementation {
  implementationClassUid?: string;
  implementationVersionName?: string;
}

export const DEFAULT_ADVISORY_FILE = new URL('./advisories/dicom-implementations.json', import.meta.url);

function invalid(message: string): WardgateError {
  return new WardgateError('SCAN_ADVISORY_INVALID', message);
}

function parseVersion(text: string): number[] {
  return text.split('.').map(Number);
}

function below(a: number[], b: number[]): boolean {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x < y;
  }
  return false;
}

export function loadAdvisories(file: string | URL = DEFAULT_ADVISORY_FILE): Advisory[] {
  let doc: { advisories?: unknown };
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new WardgateError('SCAN_ADVISORY_INVALID', `cannot read advisory file ${String(file)}: ${(err as Error).message}`, { cause: err });
  }
  if (!Array.isArray(doc.advisories)) throw invalid('advisory file has no "advisories" array');
  return doc.advisories.map((a: Advisory, i: number) => {
    const where = `advisories[${i}]${a?.id ? ` (${a.id})` : ''}`;
    for (const key of ['id', 'title', 'source', 'fixedIn'] as const) if (typeof a?.[key] !== 'string' || !a[key]) throw invalid(`${where}.${key} must be a non-empty string`);
    if (!/^https:\/\//.test(a.source)) throw invalid(`${where}.source must be an https URL`);
    if (!['critical', 'high', 'medium', 'low', 'info'].includes(a.severity)) throw invalid(`${where}.severity ${JSON.stringify(a.severity)} is not a severity`);
    if (!Array.isArray(a.rules) || a.rules.length === 0) throw invalid(`${where}.rules must list at least one rule`);
    if (!Array.isArray(a.tests) || !a.tests.some((t) => t.expect) || !a.tests.some((t) => !t.expect)) throw invalid(`${where}.tests must hold at least one matching and one non-matching case`);
    for (const [j, r] of a.rules.entries()) {
      if (r.field !== 'implementationClassUid' && r.field !== 'implementationVersionName') throw invalid(`${where}.rules[${j}].field must be implementationClassUid or implementationVersionName`);
      try {
        const re = new RegExp(r.pattern);
        if (!/\(\?<major>/.test(re.source)) throw new Error('no (?<major>...) group');
      } catch (err) {
        throw invalid(`${where}.rules[${j}].pattern: ${(err as Error).message}`);
      }
      if (!/^\d+(\.\d+)*$/.test(r.versionBelow)) throw invalid(`${where}.rules[${j}].versionBelow must be dotted digits`);
    }
    return a;
  });
}

export function matchAdvisory(advisory: Advisory, impl: Implementation): boolean {
  return advisory.rules.some((rule) => {
    const value = impl[rule.field];
    if (!value) return false;
    const m = new RegExp(rule.pattern).exec(value.trim());
    if (!m?.groups) return false;
    const version = [m.groups.major, m.groups.minor ?? '0', m.groups.patch ?? '0'].map(Number);
    return below(version, parseVersion(rule.versionBelow));
  });
}

export function matchAdvisories(advisories: Advisory[], impl: Implementation): Advisory[] {
  return advisories.filter((a) => matchAdvisory(a, impl));
}
