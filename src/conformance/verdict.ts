/**
 * A verdict on one requirement: `pass` and `fail` are judged from evidence; `not-applicable` means the
 * requirement belongs to an option the product does not claim; `inconclusive` means the kit could not
 * gather the evidence (an input was missing, or an earlier result makes the test meaningless), which
 * an assessor must complete by hand. Evidence is one or more plain sentences.
 */
export type Status = 'pass' | 'fail' | 'not-applicable' | 'inconclusive';

export const STATUSES: readonly Status[] = ['pass', 'fail', 'not-applicable', 'inconclusive'];

export interface Verdict {
  status: Status;
  evidence: string;
  /**
   * Set on a `fail` judged from a run cut short: what was gathered before the product stopped
   * answering already proves the violation, though some of the probes the check needs did not run.
   * Only a failure can rest on partial evidence, never a pass.
   */
  partialEvidence?: true;
}

export const pass = (evidence: string): Verdict => ({ status: 'pass', evidence });
export const fail = (evidence: string): Verdict => ({ status: 'fail', evidence });
export const notApplicable = (evidence: string): Verdict => ({ status: 'not-applicable', evidence });
export const inconclusive = (evidence: string): Verdict => ({ status: 'inconclusive', evidence });
export const failOnPartialEvidence = (evidence: string): Verdict => ({ status: 'fail', evidence, partialEvidence: true });
