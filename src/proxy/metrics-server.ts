/**
 * The Prometheus scrape endpoint: GET /metrics, nothing else. On a loopback address it may be open
 * (a local agent scrapes it); anywhere else the config must give a bearer token (route-config.ts
 * refuses it otherwise): connection counts, denials and certificate expiry are not for the whole LAN.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import { WardgateError } from '../errors.ts';
import { type ConnectionCaps, capConnections } from '../net/connection-caps.ts';
import { refusalLog } from '../net/refusal-log.ts';
import { type HostPort, readMetricsToken } from './route-config.ts';

/** Anything that renders the exposition text: a Metrics registry, or the multi-process aggregator. */
export interface MetricsSource {
  render(): string | Promise<string>;
}

export interface MetricsServerOptions {
  /** Required as `Authorization: Bearer TOKEN` on every request when set (Prometheus `authorization`). */
  token?: string;
  /** Caps before any byte is read (default METRICS_CONNECTION_CAPS). */
  caps?: ConnectionCaps;
  /** A connection with no traffic for this long is closed (default 10 s). */
  idleTimeoutMs?: number;
  /** Where connections refused by the caps are reported (rate-limited, src/net/refusal-log.ts). */
  log?: (message: string) => void;
}

/**
 * A scraper needs one or two connections. The endpoint shares the gateway's process, and so its file
 * descriptors, with every route: a LAN host holding thousands of idle connections here (the token is
 * only asked for once a request arrives) would leave the routes unable to accept.
 */
export const METRICS_CONNECTION_CAPS: ConnectionCaps = { maxConnections: 64, maxConnectionsPerAddress: 8 };

/** Server options from the config's `metrics` (the token is read from its file here, at start). */
export function metricsAuth(metrics: { tokenFile?: string }): MetricsServerOptions {
  return metrics.tokenFile ? { token: readMetricsToken(metrics.tokenFile) } : {};
}

/** Digests, so the comparison takes the same time whatever the lengths. */
function tokenMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!m) return false;
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(m[1]), digest(token));
}

export async function startMetricsServer(metrics: MetricsSource, at: HostPort, opts: MetricsServerOptions = {}): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    if (opts.token !== undefined && !tokenMatches(req.headers.authorization, opts.token)) {
      res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer realm="wardgate-metrics"' });
      res.end('unauthorized: send Authorization: Bearer <the metrics token>\n');
      return;
    }
    if (req.method === 'GET' && req.url?.split('?')[0] === '/metrics') {
      void Promise.resolve(metrics.render()).then((text) => {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
        res.end(text);
      }, () => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('metrics unavailable\n');
      });
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found: try /metrics\n');
  });
  server.headersTimeout = 5000;
  server.requestTimeout = 10000;
  // headersTimeout starts with a request's first byte: a connection that never sends one needs this.
  server.setTimeout(opts.idleTimeoutMs ?? 10_000);
  capConnections(server, opts.caps ?? METRICS_CONNECTION_CAPS, { onRefused: opts.log && refusalLog(opts.log, `metrics endpoint ${at.host}:${at.port}`) });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new WardgateError('PROXY_LISTEN_FAILED', `metrics endpoint cannot listen on ${at.host}:${at.port}: ${err.message}`, { cause: err })));
    server.listen(at.port, at.host, () => resolve());
  });
  return server;
}
