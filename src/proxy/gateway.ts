/**
 * The gateway process: routes from a config, shared metrics and audit, the metrics endpoint, and
 * Application Activity audit records on start and stop (PS3.15 A.5.3.1).
 */
import type http from 'node:http';
import { readFileSync } from 'node:fs';
import { Auditor } from '../audit/auditor.ts';
import { applicationActivity } from '../audit/events.ts';
import { type AuditSink, FileSink, TlsSyslogSink } from '../audit/sinks.ts';
import { WardgateError } from '../errors.ts';
import { type Credentials, loadKeyPairs, loadTrustBundle } from './credentials.ts';
import { Metrics } from './metrics.ts';
import { metricsAuth, startMetricsServer } from './metrics-server.ts';
import { Route, type WithoutTls } from './route.ts';
import { type GatewayConfig, type RouteConfig, parseAddress } from './route-config.ts';

export interface GatewayOptions {
  log?: (message: string) => void;
  tlsProfilesDir?: string;
  /** Credentials for routes whose certificates are not files (ACME-managed), by route name. */
  credentials?: Map<string, Credentials>;
  /** The fuzzer's TLS-free harness (route.ts WithoutTls); `wardgate proxy` never sets it. */
  withoutTls?: WithoutTls;
}

function readOptional(file: string | undefined, what: string): string | undefined {
  if (!file) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new WardgateError('TLS_CREDENTIALS_INVALID', `cannot read ${what} ${file}: ${(err as Error).message}`);
  }
}

export class Gateway {
  readonly metrics = new Metrics();
  readonly auditor: Auditor;
  readonly routes: Route[] = [];
  private metricsServer: http.Server | undefined;
  private readonly log: (message: string) => void;

  constructor(readonly config: GatewayConfig, private readonly opts: GatewayOptions = {}) {
    this.log = opts.log ?? ((m) => process.stderr.write(`${new Date().toISOString()} ${m}\n`));
    const sinks: AuditSink[] = [];
    const onError = (err: WardgateError) => this.log(`audit: ${err.message}`);
    if (config.audit?.file) sinks.push(new FileSink(config.audit.file, onError));
    const sys = config.audit?.syslog;
    if (sys) {
      const { host, port } = parseAddress(sys.address, 'audit.syslog.address');
      sinks.push(new TlsSyslogSink({ host, port, ca: loadTrustBundle(sys.ca), cert: readOptional(sys.cert, 'syslog client certificate'), key: readOptional(sys.key, 'syslog client key'), serverName: sys.serverName, maxMessageBytes: sys.maxMessageBytes, reconnectMs: sys.reconnectMs, resendWindowMs: sys.resendWindowMs }, onError));
    }
    this.auditor = new Auditor(sinks, { sourceId: config.audit?.sourceId, onError });
    this.metrics.collect('wardgate_audit_records_dropped_total', () =>
      sinks.map((sink) => ({ labels: { sink: sink instanceof FileSink ? 'file' : 'syslog' }, value: sink.dropped })));
  }

  private credentialsFor(route: RouteConfig): Credentials {
    const given = this.opts.credentials?.get(route.name);
    if (given) return given;
    if (!route.tls.cert) throw new WardgateError('CONFIG_INVALID', `route ${route.name}: no certificate (tls.cert or tls.acme)`);
    return loadKeyPairs(route.tls.cert, route.tls.key ?? []);
  }

  async start(): Promise<void> {
    try {
      for (const rc of this.config.routes) {
        const route = new Route(rc, { metrics: this.metrics, auditor: this.auditor, log: this.log, tlsProfilesDir: this.opts.tlsProfilesDir, withoutTls: this.opts.withoutTls }, this.credentialsFor(rc), loadTrustBundle(rc.tls.ca));
        await route.start();
        this.routes.push(route);
        this.auditor.record(applicationActivity(this.auditor.identity, 'start', rc.name));
        const at = route.address();
        this.log(`route ${rc.name}: ${rc.direction} ${rc.protocol} listening on ${at.host}:${at.port} -> ${rc.upstream}${this.opts.withoutTls ? ' (fuzz harness: TLS off)' : ''}`);
      }
      if (this.config.metrics) this.metricsServer = await startMetricsServer(this.metrics, parseAddress(this.config.metrics.listen, 'metrics.listen'), { ...metricsAuth(this.config.metrics), log: this.log });
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  route(name: string): Route | undefined {
    return this.routes.find((r) => r.config.name === name);
  }

  async stop(): Promise<void> {
    for (const route of this.routes.splice(0)) {
      await route.stop();
      this.auditor.record(applicationActivity(this.auditor.identity, 'stop', route.config.name));
    }
    if (this.metricsServer) {
      const s = this.metricsServer;
      this.metricsServer = undefined;
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
    await this.auditor.close();
  }
}
