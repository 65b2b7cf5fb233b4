/**
 * Prometheus text exposition format 0.0.4 (counters and gauges with labels), no dependency: the
 * gateway exposes a handful of series and needs no client library for that.
 */
export type Labels = Record<string, string>;

interface Family {
  help: string;
  type: 'counter' | 'gauge';
  values: Map<string, { labels: Labels; value: number }>;
  /** Series whose value is computed at scrape time (certificate expiry, audit sinks' counts). */
  collect?: () => Array<{ labels: Labels; value: number }>;
}

function key(labels: Labels): string {
  return Object.keys(labels).sort().map((k) => `${k}=${labels[k]}`).join(',');
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function formatLabels(labels: Labels): string {
  const parts = Object.keys(labels).sort().map((k) => `${k}="${escapeLabel(labels[k])}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

export class Metrics {
  private families = new Map<string, Family>();

  constructor() {
    this.define('wardgate_connections_total', 'counter', 'client connections accepted by a route');
    this.define('wardgate_connections_active', 'gauge', 'client connections open on a route');
    this.define('wardgate_bytes_total', 'counter', 'bytes relayed, by direction (upstream = towards the backend)');
    this.define('wardgate_denials_total', 'counter', 'associations, messages or connections refused by policy or limits');
    this.define('wardgate_handshake_failures_total', 'counter', 'TLS handshakes that failed');
    this.define('wardgate_protocol_errors_total', 'counter', 'PDU or MLLP framing errors that ended a connection');
    this.define('wardgate_associations_total', 'counter', 'DICOM associations established through a route');
    this.define('wardgate_associations_rejected_total', 'counter', 'DICOM associations the gateway admitted and the acceptor answered with A-ASSOCIATE-RJ');
    this.define('wardgate_messages_total', 'counter', 'HL7 messages forwarded through a route');
    this.define('wardgate_certificate_expiry_seconds', 'gauge', 'seconds until each certificate a route presents expires');
    this.define('wardgate_crl_next_update_seconds', 'gauge', 'seconds until the CRL a route enforces (tls.crl) is due to be replaced; negative when overdue (still enforced)');
    this.define('wardgate_audit_records_dropped_total', 'counter', 'audit records a sink discarded (collector down or not reading, file not writable)');
  }

  define(name: string, type: 'counter' | 'gauge', help: string, collect?: Family['collect']): void {
    const existing = this.families.get(name);
    if (existing) {
      if (collect) existing.collect = chain(existing.collect, collect);
      return;
    }
    this.families.set(name, { help, type, values: new Map(), collect });
  }

  /** Add a scrape-time collector to a gauge (used for certificate expiry). */
  collect(name: string, fn: NonNullable<Family['collect']>): void {
    const f = this.family(name);
    f.collect = chain(f.collect, fn);
  }

  inc(name: string, labels: Labels, by = 1): void {
    const f = this.family(name);
    const k = key(labels);
    const slot = f.values.get(k);
    if (slot) slot.value += by;
    else f.values.set(k, { labels, value: by });
  }

  dec(name: string, labels: Labels, by = 1): void {
    this.inc(name, labels, -by);
  }

  /**
   * A handle on one series, for hot paths (bytes relayed per chunk): no label hashing per update.
   */
  series(name: string, labels: Labels): { value: number } {
    const f = this.family(name);
    const k = key(labels);
    let slot = f.values.get(k);
    if (!slot) {
      slot = { labels, value: 0 };
      f.values.set(k, slot);
    }
    return slot;
  }

  get(name: string, labels: Labels): number {
    return this.family(name).values.get(key(labels))?.value ?? 0;
  }

  render(): string {
    const lines: string[] = [];
    for (const [name, f] of this.families) {
      lines.push(`# HELP ${name} ${f.help}`, `# TYPE ${name} ${f.type}`);
      for (const { labels, value } of f.values.values()) lines.push(`${name}${formatLabels(labels)} ${value}`);
      for (const { labels, value } of f.collect?.() ?? []) lines.push(`${name}${formatLabels(labels)} ${Number.isFinite(value) ? value : 'NaN'}`);
    }
    return `${lines.join('\n')}\n`;
  }

  private family(name: string): Family {
    const f = this.families.get(name);
    if (!f) throw new Error(`metric ${name} is not defined`);
    return f;
  }
}

function chain(a: Family['collect'], b: NonNullable<Family['collect']>): NonNullable<Family['collect']> {
  return a ? () => [...a(), ...b()] : b;
}
