/**
 * The Prometheus scrape endpoint: GET /metrics on a loopback or management address, nothing else.
 */
import http from 'node:http';
import { WardgateError } from '../errors.ts';
/** Anything that renders the exposition text: a Metrics registry, or the multi-process aggregator. */
export interface MetricsSource {
  render(): string | Promise<string>;
}
import type { HostPort } from './route-config.ts';

export async function startMetricsServer(metrics: MetricsSource, at: HostPort): Promise<http.Server> {
  const server = http.createServer((req, res) => {
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
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new WardgateError('PROXY_LISTEN_FAILED', `metrics endpoint cannot listen on ${at.host}:${at.port}: ${err.message}`, { cause: err })));
    server.listen(at.port, at.host, () => resolve());
  });
  return server;
}
