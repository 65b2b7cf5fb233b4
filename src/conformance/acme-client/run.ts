import { WardgateError } from '../../errors.ts';

export interface AcmeClientRunOptions {
  /** The client under test, run with the directory URL in $ACME_DIRECTORY_URL and the root in $ACME_CA_ROOT. */
  command: string[];
  claims: string[];
  timeoutMs: number;
}

/**
 * Planned sequence (once src/acme/ serves): start a test CA in a temp data dir on 127.x with a
 * FaultPlan and an ExchangeRecorder; run the command for enrollment; run it again (or wait, for
 * daemons) for renewal with the ARI window and Retry-After faults; then judgeExchange(record).
 */
export async function runAcmeClient(_opts: AcmeClientRunOptions): Promise<never> {
  throw new WardgateError('CONFORMANCE_UNAVAILABLE', 'conformance acme-client needs the wardgate ACME server (src/acme/) as its test CA, which is not available yet; its requirements are pending');
}
