import net from 'node:net';
import { WardgateError } from '../../errors.ts';
import { buildClientHello, type ClientHelloOptions } from './client-hello.ts';
import { ServerFlightParser, type ServerFlight } from './server-flight.ts';

export interface Endpoint {
  host: string;
  port: number;
  /** Name for SNI and for the certificate name check, when it differs from host. */
  serverName?: string;
}

export type RawOutcome =
  | { kind: 'flight'; flight: ServerFlight }
  | { kind: 'closed'; flight: ServerFlight }
  | { kind: 'timeout'; flight: ServerFlight }
  /** The answer is not parseable TLS; `flight` holds what was parsed before the defect, `error` names it. */
  | { kind: 'not-tls'; flight: ServerFlight; error: string };

/**
 * Sends one raw ClientHello and reads the server's plaintext answer. Connection failures (refused,
 * unreachable) throw TLS_PROBE_FAILED: the target is down, which is no verdict on its TLS. A server
 * that closes, stays silent or answers with something that is not TLS has answered, and that answer
 * is the outcome: one malformed answer is evidence against the checks that need it, not the end of
 * the run.
 */
export function rawProbe(endpoint: Endpoint, hello: Omit<ClientHelloOptions, 'serverName'>, timeoutMs: number): Promise<RawOutcome> {
  return new Promise((resolve, reject) => {
    const parser = new ServerFlightParser();
    let connected = false;
    let settled = false;
    const socket = net.connect({ host: endpoint.host, port: endpoint.port });
    const finish = (outcome: RawOutcome | Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (outcome instanceof Error) reject(outcome);
      else resolve(outcome);
    };
    const timer = setTimeout(() => finish({ kind: 'timeout', flight: parser.flight }), timeoutMs);
    socket.once('connect', () => {
      connected = true;
      socket.write(buildClientHello({ ...hello, serverName: endpoint.serverName ?? endpoint.host }));
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        if (parser.push(chunk)) finish({ kind: 'flight', flight: parser.flight });
      } catch (err) {
        finish({ kind: 'not-tls', flight: parser.flight, error: (err as Error).message });
      }
    });
    socket.once('close', () => finish({ kind: 'closed', flight: parser.flight }));
    socket.once('error', (err: NodeJS.ErrnoException) => {
      if (!connected) finish(new WardgateError('TLS_PROBE_FAILED', `cannot connect to ${endpoint.host}:${endpoint.port}: ${err.code ?? err.message}`, { cause: err }));
      else finish({ kind: 'closed', flight: parser.flight });
    });
  });
}
