import { readFileSync } from 'node:fs';
import net from 'node:net';

/**
 * Ports this process handed out already: two calls in a row must never return the same port, which
 * bind(0)-then-close can do (the kernel starts its search at a random offset each time).
 */
const handedOut = new Set<number>();

const FALLBACK_EPHEMERAL_LOW = 32768;
/** How far below the ephemeral range to pick; above the ports well-known services use (2762, 11112). */
const SPAN = 12_000;
const ATTEMPTS = 50;

/**
 * A TCP port free on `host` right now (bound, then released). Another process can take it before the
 * caller binds it, so callers that start a child on it should retry on a fresh port when it fails.
 *
 * The port comes from just below the kernel's ephemeral range, not from bind(0): a bind(0) port is an
 * ephemeral port, and the kernel hands the same numbers to every outgoing connection's source port and
 * to every other bind(0) on the machine, so between the check and the caller's bind it was taken in
 * practice (CI saw EADDRINUSE on 127.30.7.2:33455). Below the range only other explicit binds compete.
 * Each candidate is also bound on the IPv4 wildcard, which fails while anything listens on that port on
 * any IPv4 address (a dcmtk storescp binds the wildcard).
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const low = ephemeralLow();
  if (low - SPAN >= 1024) {
    for (let i = 0; i < ATTEMPTS; i++) {
      const port = low - SPAN + Math.floor(Math.random() * SPAN);
      if (handedOut.has(port)) continue;
      if (await bindable(port, host) && (net.isIPv6(host) || await bindable(port, '0.0.0.0'))) {
        handedOut.add(port);
        return port;
      }
    }
  }
  for (;;) {
    const port = await kernelPort(host);
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 0 ? low : FALLBACK_EPHEMERAL_LOW;
  } catch {
    return FALLBACK_EPHEMERAL_LOW;
  }
}

function bindable(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

function kernelPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
