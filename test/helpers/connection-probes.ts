/**
 * Raw TCP probes for the connection-cap tests (ACME listeners, metrics endpoint, http-01 responder):
 * a connection from a chosen source address, and how long the server takes to close it.
 */
import net from 'node:net';

/** Connects to host:port from the loopback address `from` (one "client" per source address). */
export function connectFrom(host: string, port: number, from: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, localAddress: from });
    s.once('connect', () => { s.removeListener('error', reject); s.on('error', () => undefined); resolve(s); });
    s.once('error', reject);
  });
}

/** How long the server took to close `s` (ms), or -1 when it was still open after `ms`. */
export function closedWithin(s: net.Socket, ms: number): Promise<number> {
  const at = Date.now();
  s.resume();
  return new Promise((resolve) => {
    if (s.destroyed) return resolve(0);
    const timer = setTimeout(() => resolve(-1), ms);
    s.once('close', () => { clearTimeout(timer); resolve(Date.now() - at); });
  });
}
