/**
 * HTTP-01 challenge responder (RFC 8555 §8.3): answers GET /.well-known/acme-challenge/{token} with
 * the key authorization, and 404 for anything else. One per listen address, shared by managers.
 */
import http from 'node:http';
import { WardgateError } from '../../errors.ts';
import { capConnections } from '../../net/connection-caps.ts';
import { refusalLog } from '../../net/refusal-log.ts';
import type { HostPort } from '../route-config.ts';

const PREFIX = '/.well-known/acme-challenge/';

export class Http01Responder {
  private readonly tokens = new Map<string, string>();
  private server: http.Server | undefined;

  /** `log` gets the connections the caps refuse (rate-limited). */
  constructor(readonly at: HostPort, private readonly log?: (message: string) => void) {}

  set(token: string, keyAuthorization: string): void {
    this.tokens.set(token, keyAuthorization);
  }

  delete(token: string): void {
    this.tokens.delete(token);
  }

  async start(): Promise<void> {
    if (this.server) return;
    const server = http.createServer((req, res) => {
      const path = req.url?.split('?')[0] ?? '';
      const value = req.method === 'GET' && path.startsWith(PREFIX) ? this.tokens.get(path.slice(PREFIX.length)) : undefined;
      if (value === undefined) {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not found\n');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(value);
    });
    server.requestTimeout = 10_000;
    // It runs as long as the gateway, in its process: connections that never send a byte (requestTimeout
    // starts with the first) are closed, and capped, so a LAN host cannot use up the routes' descriptors.
    server.setTimeout(10_000);
    capConnections(server, { maxConnections: 64, maxConnectionsPerAddress: 16 }, { onRefused: this.log && refusalLog(this.log, `http-01 responder ${this.at.host}:${this.at.port}`) });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new WardgateError('PROXY_LISTEN_FAILED', `http-01 responder cannot listen on ${this.at.host}:${this.at.port}: ${err.message}`, { cause: err })));
      server.listen(this.at.port, this.at.host, () => resolve());
    });
    this.server = server;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}
