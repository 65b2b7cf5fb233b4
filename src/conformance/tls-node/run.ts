import { loadRequirements, type RequirementSet } from '../requirements.ts';
import { buildReport, type Report } from '../report.ts';
import { failOnPartialEvidence, inconclusive, notApplicable, type Verdict } from '../verdict.ts';
import { TLS_NODE_CHECKS, type TlsNodeCheck, type TlsNodeOption } from './checks.ts';
import { collectTlsNodeEvidence, type TlsNodeInputs } from './collect.ts';
import type { TlsNodeEvidence } from './evidence.ts';

/** Actors a TLS endpoint can be; their manual requirements go into the report for the assessor. */
const TLS_ACTORS = ['Relying Node', 'TLS Gateway'];

/**
 * One check's verdict. A check whose probe stages did not finish (the endpoint stopped answering)
 * fails when what was probed before the stop already proves a violation (marked as resting on partial
 * evidence), and is inconclusive with the reason otherwise: a pass needs every probe it rests on.
 * Every other check keeps the verdict its evidence gives.
 */
function judgeOne(c: TlsNodeCheck, e: TlsNodeEvidence, options: ReadonlySet<TlsNodeOption>): Verdict {
  if (c.option && !options.has(c.option)) return notApplicable(`the ${c.option} option is not claimed (--claim ${c.option})`);
  if (e.interrupted) {
    const { reason, partial } = e.interrupted;
    const needs = typeof c.needs === 'function' ? c.needs(e) : c.needs;
    const notRun = needs.filter((s) => e.interrupted!.notRun.includes(s));
    if (notRun.length) {
      const stages = notRun.map((s) => (s === partial ? `${s} (cut short)` : s)).join(', ');
      const proven = c.provenFailure?.(e);
      if (proven) return failOnPartialEvidence(`${proven} (proven before the stop: ${reason}; the probes this check needs (${stages}) did not run to their end)`);
      return inconclusive(`${reason}; the probes this check needs (${stages}) did not run`);
    }
  }
  return c.judge(e, { options });
}

export function judgeTlsNode(evidence: TlsNodeEvidence, options: ReadonlySet<TlsNodeOption>): Map<string, Verdict> {
  return new Map(Object.entries(TLS_NODE_CHECKS).map(([name, c]) => [name, judgeOne(c, evidence, options)]));
}

/** Probes one TLS endpoint and reports every requirement judged by a tls-node check. */
export async function runTlsNode(inputs: TlsNodeInputs & { options?: TlsNodeOption[]; requirements?: RequirementSet }): Promise<{ report: Report; evidence: TlsNodeEvidence }> {
  const requirements = inputs.requirements ?? loadRequirements();
  const startedAt = new Date();
  const evidence = await collectTlsNodeEvidence(inputs);
  const options = new Set(inputs.options ?? []);
  const target = `${inputs.endpoint.host.includes(':') ? `[${inputs.endpoint.host}]` : inputs.endpoint.host}:${inputs.endpoint.port}`;
  const report = buildReport({
    kit: 'tls-node',
    target: inputs.endpoint.serverName ? `${target} (${inputs.endpoint.serverName})` : target,
    requirements,
    actors: TLS_ACTORS,
    verdicts: judgeTlsNode(evidence, options),
    claimedOptions: [...options],
    ...(evidence.interrupted ? { incomplete: evidence.interrupted.reason } : {}),
    startedAt,
    finishedAt: new Date(),
  });
  return { report, evidence };
}
