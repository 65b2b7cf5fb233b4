import net from 'node:net';
import { failure, hostPort } from './failure.ts';

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
