/**
 * `wardgate fuzz replay FILE`: run a reproducer's exchange(s) once against a fresh target and apply
 * the same oracles. It reproduces when the same oracle fires at the same location.
 */
import { Campaign } from './campaign.ts';
import type { Reproducer } from './findings.ts';
import type { FuzzPeer, Verdict } from './oracles.ts';
import type { FuzzTarget } from './target.ts';
import type { AllowRule } from '../proxy/route-config.ts';

export interface ReplayOutcome {
  reproduced: boolean;
  verdict?: Verdict;
}

export async function replayReproducer(r: Reproducer, target: FuzzTarget, opts: { hangTimeoutMs?: number; policy?: { rules?: AllowRule[]; peer: FuzzPeer } } = {}): Promise<ReplayOutcome> {
  const campaign = new Campaign({ target, protocol: r.protocol, seed: r.seed, durationMs: 0, outDir: '', hangTimeoutMs: opts.hangTimeoutMs, policy: opts.policy });
  const [client, server] = r.exchanges;
  const verdict = await campaign.replayOnce({ client, server });
  return { reproduced: verdict?.oracle === r.oracle && verdict.location === r.location, verdict };
}
