import type { ExchangeRecord, InjectedFault, Phase, RecordedCommand, RecordedRequest, RecordedTlsFailure, ServedWindow } from './exchange.ts';
import type { FaultPlan } from './fault-plan.ts';

/** Matches every absolute http(s) URL in a response body or header, so later requests can be traced to it. */
const URL_IN_TEXT = /https?:\/\/[^\s"'<>,;]+/g;

/**
 * Requests and TLS failures kept per run. A conforming client sends tens of requests per enrollment; a
 * product that floods the kit (each record is about 0.5 KB) is counted beyond this, not kept, so its
 * flood cannot grow the kit's memory for as long as the run lasts.
 */
export const MAX_RECORDED_REQUESTS = 20_000;
export const MAX_RECORDED_TLS_FAILURES = 1_000;

/**
 * The live state of one kit run, shared by the fastify hooks of both listeners: the clock, the current
 * phase, the URLs the server has revealed so far, and what the fault plan has already done. It only
 * appends; judging happens on the finished ExchangeRecord.
 */
export class KitSession {
  readonly startedAt = Date.now();
  phase: Phase = 'enroll';
  invocation = 0;
  readonly notes: string[] = [];
  readonly requests: RecordedRequest[] = [];
  readonly tlsFailures: RecordedTlsFailure[] = [];
  readonly faults: InjectedFault[] = [];
  readonly windows: ServedWindow[] = [];
  readonly commands: RecordedCommand[] = [];
  /** Order ids in the order newOrder created them. */
  readonly orderIds: string[] = [];
  /** Order id -> the identifiers exactly as the client sent them. */
  readonly requestedIdentifiers = new Map<string, Array<{ type: string; value: string }>>();
  readonly orderAt = new Map<string, { at: number; phase: Phase }>();
  /** Authorization or order id -> end of its injected pending/processing period (epoch ms). */
  readonly slowUntil = new Map<string, number>();
  badNonceDone = false;
  processingOrderDone = false;
  pendingAuthzDone = false;
  readonly orderNotReadyDone = new Set<Phase>();
  private readonly discovered = new Set<string>();
  private readonly discoveredPrefixes: string[] = [];
  private seq = 0;

  constructor(readonly directoryUrl: string, readonly claims: string[], readonly plan: FaultPlan, readonly eabKid?: string) {
    this.discovered.add(directoryUrl);
  }

  now(): number {
    return Date.now() - this.startedAt;
  }

  nextSeq(): number {
    return ++this.seq;
  }

  /** True when the URL (query ignored) is the directory or was revealed by an earlier response. */
  isDiscovered(url: string): boolean {
    const bare = url.split('?')[0];
    if (this.discovered.has(url) || this.discovered.has(bare)) return true;
    // RFC 9773 §4.1: renewalInfo URLs are the directory's renewalInfo URL plus "/" and a certID.
    return this.discoveredPrefixes.some((p) => bare.startsWith(p));
  }

  /** Notes every URL a response revealed (body, Location, Link); renewalInfo becomes a prefix. */
  reveal(texts: Array<string | undefined>, renewalInfoField?: string): void {
    for (const text of texts) {
      for (const m of text?.matchAll(URL_IN_TEXT) ?? []) this.discovered.add(m[0]);
    }
    if (renewalInfoField) this.discoveredPrefixes.push(`${renewalInfoField.replace(/\/$/, '')}/`);
  }

  /** Appends a request to the record, up to MAX_RECORDED_REQUESTS; later ones are counted in a note. */
  record(entry: RecordedRequest): void {
    if (this.requests.length < MAX_RECORDED_REQUESTS) this.requests.push(entry);
    else this.overflow('requests', MAX_RECORDED_REQUESTS);
  }

  /** Appends a failed TLS handshake, up to MAX_RECORDED_TLS_FAILURES. */
  tlsFailure(f: RecordedTlsFailure): void {
    if (this.tlsFailures.length < MAX_RECORDED_TLS_FAILURES) this.tlsFailures.push(f);
    else this.overflow('failed TLS handshakes', MAX_RECORDED_TLS_FAILURES);
  }

  private readonly unrecorded = new Map<string, { count: number; note: number }>();

  /** One note per kind, its count kept current: "N more requests than the M recorded were not kept". */
  private overflow(kind: string, max: number): void {
    let u = this.unrecorded.get(kind);
    if (!u) {
      u = { count: 0, note: this.notes.length };
      this.unrecorded.set(kind, u);
      this.notes.push('');
    }
    u.count++;
    this.notes[u.note] = `the product sent ${u.count} more ${kind} than the ${max} the kit records: counted, not kept`;
  }

  fault(f: InjectedFault): void {
    this.faults.push(f);
  }

  /** The finished record, without the store-derived parts (orders, certificates) run.ts adds. */
  snapshot(phases: Phase[]): Omit<ExchangeRecord, 'orders' | 'certificates'> {
    return structuredClone({
      directoryUrl: this.directoryUrl, startedAt: new Date(this.startedAt).toISOString(), claims: this.claims, plan: this.plan, ...(this.eabKid ? { eabKid: this.eabKid } : {}), phases,
      requests: this.requests, tlsFailures: this.tlsFailures, faults: this.faults, windows: this.windows, commands: this.commands, endedAt: this.now(), notes: this.notes,
    });
  }
}
