import { printableJson } from '../printable.ts';
import type { Kit } from './check-registry.ts';
import type { Requirement, RequirementSet } from './requirements.ts';
import { STATUSES, type Status, type Verdict } from './verdict.ts';

/** Schema identifier of the JSON report; bump the suffix on an incompatible change. */
export const REPORT_SCHEMA = 'wardgate.conformance.report/1';

export interface ReportRow {
  id: string;
  level: Requirement['level'];
  actor: string;
  area: string;
  option?: string;
  summary: string;
  check: string;
  status: Status;
  evidence: string;
  /** Present on a fail proven by a run cut short, before every probe the check needs had run (Verdict.partialEvidence). */
  partialEvidence?: true;
}

export interface ManualRow {
  id: string;
  level: Requirement['level'];
  actor: string;
  summary: string;
  reason: string;
}

export interface Report {
  schema: typeof REPORT_SCHEMA;
  kit: Kit;
  target: string;
  profile: { id: string; version: string };
  startedAt: string;
  finishedAt: string;
  claimedOptions: string[];
  summary: Record<Status, number>;
  /** True when no SHALL requirement failed. */
  conformant: boolean;
  /**
   * Why the run ended before every probe or phase ran (the product stopped answering, or a run of the
   * client was cut off); absent when the run was complete. Rows that needed the missing part are
   * inconclusive, or fail with `partialEvidence` when what ran already proves the violation; the
   * others keep their verdicts.
   */
  incomplete?: string;
  rows: ReportRow[];
  /** Requirements of the actors under test that need an assessor (check "manual"). */
  manual: ManualRow[];
}

export interface ReportInput {
  kit: Kit;
  target: string;
  requirements: RequirementSet;
  /** Actors whose manual requirements are listed for the assessor. */
  actors: string[];
  verdicts: ReadonlyMap<string, Verdict>;
  claimedOptions: string[];
  /** Why the run ended early, if it did (Report.incomplete). */
  incomplete?: string;
  startedAt: Date;
  finishedAt: Date;
}

/** One row per requirement judged by a check of this kit, in requirements.json order. */
export function buildReport(input: ReportInput): Report {
  const prefix = `${input.kit}:`;
  const rows: ReportRow[] = [];
  for (const r of input.requirements.requirements) {
    if (!r.check.startsWith(prefix)) continue;
    const v = input.verdicts.get(r.check) ?? { status: 'inconclusive', evidence: 'the check produced no verdict' };
    rows.push({ id: r.id, level: r.level, actor: r.actor, area: r.area, ...(r.option ? { option: r.option } : {}), summary: r.summary, check: r.check, status: v.status, evidence: v.evidence, ...(v.partialEvidence ? { partialEvidence: true as const } : {}) });
  }
  const manual = input.requirements.requirements
    .filter((r) => r.check === 'manual' && input.actors.includes(r.actor))
    .map((r) => ({ id: r.id, level: r.level, actor: r.actor, summary: r.summary, reason: r.reason ?? '' }));
  const summary = Object.fromEntries(STATUSES.map((s) => [s, rows.filter((row) => row.status === s).length])) as Record<Status, number>;
  return {
    schema: REPORT_SCHEMA,
    kit: input.kit,
    target: input.target,
    profile: { id: input.requirements.profile, version: input.requirements.version },
    startedAt: input.startedAt.toISOString(),
    finishedAt: input.finishedAt.toISOString(),
    claimedOptions: input.claimedOptions,
    summary,
    conformant: !rows.some((row) => row.status === 'fail' && row.level === 'SHALL'),
    ...(input.incomplete ? { incomplete: input.incomplete } : {}),
    rows,
    manual,
  };
}

/** Evidence quotes the product (client output, names it sent): printableJson keeps `cat report.json` safe. */
export function reportJson(report: Report): string {
  return `${printableJson(JSON.stringify(report, null, 2))}\n`;
}
