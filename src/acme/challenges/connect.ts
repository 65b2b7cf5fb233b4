import net from 'node:net';
import { failure, ValidationFailure } from './failure.ts';
import { hostPort } from '../../net/host-port.ts';

const REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused (nothing listening)', EHOSTUNREACH: 'host unreachable', ENETUNREACH: 'network unreachable',
  ECONNRESET: 'connection reset', ETIMEDOUT: 'timed out',
};

export function socketErrorText(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code ? `${code}: ${REASONS[code] ?? (err as Error).message}` : (err as Error).message;
}

/**
 * Opens the one TCP connection a validation step uses. Every validator connects through here, after the
 * address has passed the allow-list, so the allow-list cannot be bypassed by a library doing its own
 * lookups (http and tls get this socket; they never resolve or connect themselves).
 */
export function connectTcp(address: string, port: number, signal: AbortSignal, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const where = hostPort(address, port);
    if (signal.aborted) { reject(failure('connection', `timed out before connecting to ${where}`, true)); return; }
    const socket = net.connect({ host: address, port, family: net.isIP(address) });
    const onAbort = () => {
      socket.destroy();
      reject(failure('connection', `timed out after ${timeoutMs} ms connecting to ${where}`, true));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => {
      signal.removeEventListener('abort', onAbort);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err) => {
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      reject(failure('connection', `cannot connect to ${where}: ${socketErrorText(err)}`, true));
    });
  });
}

/** RFC 8305 §5: the recommended Connection Attempt Delay before the next address is tried in parallel. */
export const CONNECTION_ATTEMPT_DELAY_MS = 250;
/** Connection attempts one validation keeps open at once: a name with many silent addresses costs the CA little. */
export const MAX_PARALLEL_ATTEMPTS = 3;

/**
 * Connects to the first of `addresses` (in order) that accepts. The next address is tried as soon as the
 * previous attempt failed, or after CONNECTION_ATTEMPT_DELAY_MS while it is still pending (RFC 8305 §5):
 * a name whose first address silently drops packets (a stale AAAA record, a firewalled VLAN) would
 * otherwise use the attempt's whole timeout and keep the working address behind it from ever being tried.
 * At most MAX_PARALLEL_ATTEMPTS are open at once; attempts that lose the race are closed. When none connects,
 * the failure names every address tried.
 */
export function connectFirst(addresses: string[], port: number, signal: AbortSignal, timeoutMs: number): Promise<{ socket: net.Socket; address: string }> {
  return new Promise((resolve, reject) => {
    const failures: string[] = [];
    const running = new Set<AbortController>();
    let started = 0;
    let won = false;
    let timer: NodeJS.Timeout | undefined;
    const startNext = () => {
      clearTimeout(timer);
      if (won || started >= addresses.length || signal.aborted || running.size >= MAX_PARALLEL_ATTEMPTS) return;
      const address = addresses[started++];
      const own = new AbortController();
      running.add(own);
      connectTcp(address, port, AbortSignal.any([signal, own.signal]), timeoutMs).then((socket) => {
        running.delete(own);
        if (won) { socket.destroy(); return; }
        won = true;
        clearTimeout(timer);
        for (const other of running) other.abort();
        resolve({ socket, address });
      }, (err: unknown) => {
        running.delete(own);
        if (won) return;
        failures.push(err instanceof ValidationFailure ? err.problem.detail : socketErrorText(err));
        if (started < addresses.length && !signal.aborted) startNext();
        else if (running.size === 0) reject(failure('connection', failures.join('; '), true));
      });
      if (started < addresses.length) timer = setTimeout(startNext, CONNECTION_ATTEMPT_DELAY_MS);
    };
    if (addresses.length === 0) reject(failure('connection', 'no address to connect to', true));
    else startNext();
  });
}
