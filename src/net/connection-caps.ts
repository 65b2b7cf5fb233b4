/**
 * Connection caps for a listener that has no admission of its own (the ACME HTTPS server, its plain-HTTP
 * distribution listener, the metrics endpoint): a ceiling in total and per client, applied when TCP
 * accepts the connection, before TLS or HTTP reads a byte. Without them, connections that never send a
 * byte stayed open for good and one client could take every file descriptor of the process.
 */
import type net from 'node:net';
import { unmapIpv4 } from '../pki/ip.ts';
import { ConnectionLimiter } from './connection-limiter.ts';

export interface ConnectionCaps {
  maxConnections: number;
  maxConnectionsPerAddress: number;
}

export interface CapOptions {
  /** The bucket an address counts against (default: the address itself, IPv4-mapped unmapped). */
  key?: (address: string) => string;
  /** Called for each refused connection, with why. */
  onRefused?: (reason: string) => void;
}

/** Must be called before the server listens; over a cap the connection is destroyed unread. */
export function capConnections(server: net.Server, caps: ConnectionCaps, opts: CapOptions = {}): void {
  const limiter = new ConnectionLimiter(caps.maxConnections, caps.maxConnectionsPerAddress);
  const key = opts.key ?? ((a: string) => a);
  // Prepended: the TLS and HTTP servers install their own 'connection' listener when created.
  server.prependListener('connection', (socket: net.Socket) => {
    socket.on('error', () => undefined);
    const slot = limiter.acquire(key(unmapIpv4(socket.remoteAddress ?? 'unknown')));
    if ('refused' in slot) {
      socket.destroy();
      opts.onRefused?.(slot.refused);
      return;
    }
    socket.once('close', slot.release);
  });
}
