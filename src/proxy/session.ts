/**
 * What a protocol relay gets from its route: the accepted client socket, who the peer is, a way to
 * reach the upstream, and the route's metrics and audit. Relays own both sockets until they close.
 */
import type net from 'node:net';
import type { Lease } from './pooled-reads.ts';
import type { Auditor } from '../audit/auditor.ts';
import type { Metrics } from './metrics.ts';
import type { PeerIdentity } from './peer-identity.ts';
import type { RouteConfig } from './route-config.ts';

export interface SessionContext {
  route: RouteConfig;
  client: net.Socket;
  peer: PeerIdentity;
  /** Connect to the upstream (TLS for outbound routes); rejects with PROXY_UPSTREAM_FAILED. */
  connectUpstream(): Promise<net.Socket>;
  /** Upstream host, for audit records. */
  upstreamHost: string;
  metrics: Metrics;
  auditor: Auditor;
  log(message: string): void;
  /** Called once when both sockets are closed. */
  onClose(): void;
}

/**
 * Bytes a relay lets queue on the destination before it pauses the source. Bounded memory per
 * connection, but well above the 16 KiB stream high-water mark: pausing and resuming a TLS socket
 * at every record would cost more than the copy itself.
 */
export const FORWARD_HIGH_WATER = 1024 * 1024;

/**
 * Write with backpressure: when `to` holds more than FORWARD_HIGH_WATER unsent bytes, pause `from`
 * until `to` drains, so a fast sender never makes the gateway hold a whole data set in memory.
 * `lease`: `bytes` lie in a pooled read buffer (pooled-reads.ts), held until the write completed.
 */
export function forward(from: net.Socket, to: net.Socket, bytes: Buffer, lease?: Lease): void {
  // One TCP read of TLS data yields several 16 KiB records, each its own 'data' event and tick: cork
  // until this turn's I/O callbacks are done (setImmediate, not nextTick, which ran after every
  // record) so they leave in one writev instead of one write syscall each (profiled: 19% of the
  // gateway's time in single-buffer writes during a C-STORE stream).
  if (to.writableCorked === 0) {
    to.cork();
    setImmediate(uncork, to);
  }
  to.write(bytes, lease?.hold());
  if (to.writableLength > FORWARD_HIGH_WATER && !from.isPaused()) {
    from.pause();
    to.once('drain', () => from.resume());
  }
}

function uncork(socket: net.Socket): void {
  socket.uncork();
}

/** End a socket gracefully, destroying it if the peer does not close within `ms`. */
export function closeSoon(socket: net.Socket | undefined, ms = 2000): void {
  if (!socket || socket.destroyed) return;
  socket.end();
  setTimeout(() => socket.destroy(), ms).unref();
}
