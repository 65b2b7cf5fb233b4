/**
 * The audit front door used by the gateway: renders PS3.15 A.5 messages as RFC 5424 records and hands
 * them to every sink. Recording never throws and never blocks the data path.
 */
import { hostname } from 'node:os';
import type { WardgateError } from '../errors.ts';
import { fitAuditMessage } from './fit.ts';
import { type AuditMessage, renderAuditMessage } from './message.ts';
import { formatSyslog } from './rfc5424.ts';
import type { AuditSink } from './sinks.ts';
import type { GatewayIdentity } from './events.ts';

export class Auditor {
  readonly identity: GatewayIdentity;
  /** Records written since start (all sinks). */
  count = 0;

  constructor(private readonly sinks: AuditSink[], opts: { sourceId?: string; onError?: (err: WardgateError) => void } = {}) {
    this.identity = { sourceId: opts.sourceId ?? hostname(), processId: `wardgate@${hostname()}` };
  }

  /** False when no sink is configured: callers may skip building messages. */
  get enabled(): boolean {
    return this.sinks.length > 0;
  }

  record(message: AuditMessage): void {
    if (this.sinks.length === 0) return;
    const render = (m: AuditMessage) => formatSyslog(renderAuditMessage(m), m.time);
    const whole = render(message);
    // A sink with a size limit (a syslog collector, RFC 5425 §4.3.1) gets the event as records within
    // it; the others keep it as one record.
    const fitted = new Map<number, string[]>();
    const recordsFor = (limit: number | undefined): string[] => {
      if (limit === undefined || Buffer.byteLength(whole, 'utf8') <= limit) return [whole];
      if (!fitted.has(limit)) fitted.set(limit, fitAuditMessage(message, limit, render));
      return fitted.get(limit)!;
    };
    this.count++;
    for (const sink of this.sinks) {
      for (const line of recordsFor(sink.maxMessageBytes)) {
        try {
          sink.write(line);
        } catch {
          // Sinks report their own failures through onError; an audit problem must not stop traffic.
        }
      }
    }
  }

  /** After log rotation (SIGHUP): file sinks start a new file at their path. */
  reopen(): void {
    for (const sink of this.sinks) sink.reopen?.();
  }

  async close(): Promise<void> {
    await Promise.all(this.sinks.map((s) => s.close().catch(() => undefined)));
  }
}

/** An auditor that records nothing (routes run without audit configured). */
export function nullAuditor(): Auditor {
  return new Auditor([]);
}
