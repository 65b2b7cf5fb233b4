import net from 'node:net';
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
  | { kind: 'closed'; flight: ServerFlight; reset?: string }
  | { kind: 'timeout'; flight: ServerFlight }
  /** The answer is not parseable TLS; `flight` holds what was parsed before the defect, `error` names it. */
  | { kind: 'not-tls'; flight: ServerFlight; error: string }
  /** No TCP connection could be made (`error` is the errno code, e.g. ECONNREFUSED). */
  | { kind: 'unreachable'; flight: ServerFlight; error: string };

/**
 * Sends one raw ClientHello and reads the server's plaintext answer. A server that closes, stays
 * silent or answers with something that is not TLS has answered, and that answer is the outcome: one
 * malformed answer is evidence against the checks that need it, not the end of the run. A connection
 * that cannot be made is `unreachable`: the caller decides whether the target is down or stopped
 * answering mid-run (tls-node/probe-run.ts). A reset is a close; `reset` names it for the evidence.
 */
export function rawProbe(endpoint: Endpoint, hello: Omit<ClientHelloOptions, 'serverName'> & { withoutSni?: boolean }, timeoutMs: number): Promise<RawOutcome> {
  return new Promise((resolve) => {
    const parser = new ServerFlightParser();
    let connected = false;
    let settled = false;
    const socket = net.connect({ host: endpoint.host, port: endpoint.port });
    const finish = (outcome: RawOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => finish({ kind: 'timeout', flight: parser.flight }), timeoutMs);
    socket.once('connect', () => {
      connected = true;
      const { withoutSni, ...rest } = hello;
      socket.write(buildClientHello({ ...rest, serverName: withoutSni ? undefined : endpoint.serverName ?? endpoint.host }));
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
      if (!connected) finish({ kind: 'unreachable', flight: parser.flight, error: err.code ?? err.message });
      else finish({ kind: 'closed', flight: parser.flight, reset: err.code ?? err.message });
    });
  });
}
