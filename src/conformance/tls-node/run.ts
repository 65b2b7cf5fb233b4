import { loadRequirements, type RequirementSet } from '../requirements.ts';
import { buildReport, type Report } from '../report.ts';
import type { Verdict } from '../verdict.ts';
import { TLS_NODE_CHECKS, type TlsNodeOption } from './checks.ts';
import { collectTlsNodeEvidence, type TlsNodeInputs } from './collect.ts';
import type { TlsNodeEvidence } from './evidence.ts';

/** Actors a TLS endpoint can be; their manual requirements go into the report for the assessor. */
const TLS_ACTORS = ['Relying Node', 'TLS Gateway'];

export function judgeTlsNode(evidence: TlsNodeEvidence, options: ReadonlySet<TlsNodeOption>): Map<string, Verdict> {
  return new Map(Object.entries(TLS_NODE_CHECKS).map(([name, c]) => [name, c.judge(evidence, { options })]));
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
    startedAt,
    finishedAt: new Date(),
  });
  return { report, evidence };
}
