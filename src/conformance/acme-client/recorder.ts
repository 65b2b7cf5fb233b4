import type { ExchangeRecord, ExchangeRecorder, InjectedFault, RecordedCertificate, RecordedCsr, RecordedRequest, RecordedValidation } from './exchange.ts';

/**
 * The ExchangeRecorder the kit hands to its test CA: it appends in arrival order and never judges.
 * Events are kept as given (the CA owns their content); `snapshot` returns a copy for the checks.
 */
export class MemoryRecorder implements ExchangeRecorder {
  private readonly record: ExchangeRecord;

  constructor(directoryUrl: string, claims: string[], argv: string[]) {
    this.record = { directoryUrl, claims, requests: [], validations: [], csrs: [], certificates: [], faults: [], command: { argv, exitCode: null, outputTail: '' } };
  }

  request(r: RecordedRequest): void { this.record.requests.push(r); }
  validation(v: RecordedValidation): void { this.record.validations.push(v); }
  csr(c: RecordedCsr): void { this.record.csrs.push(c); }
  certificate(c: RecordedCertificate): void { this.record.certificates.push(c); }
  fault(f: InjectedFault): void { this.record.faults.push(f); }

  accountKey(sha256: string): void { this.record.accountKeySha256 = sha256; }

  commandExited(exitCode: number | null, outputTail: string): void {
    this.record.command = { ...this.record.command, exitCode, outputTail };
  }

  snapshot(): ExchangeRecord {
    return structuredClone(this.record);
  }
}
