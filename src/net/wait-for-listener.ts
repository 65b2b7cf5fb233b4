import net from 'node:net';

/** How one connection attempt ended: accepted, refused (nothing listens), no answer in time, or another error code. */
export type ConnectAttempt = 'accepted' | 'refused' | 'no-answer' | `error ${string}`;

/**
 * One TCP connection attempt to host:port, bounded by `timeoutMs` (the connection is closed at once).
 * Bounded: a listener whose accept queue is full drops the SYN, and the kernel would retry the
 * connection for tens of seconds.
 */
export function attemptConnect(host: string, port: number, timeoutMs = 1000): Promise<ConnectAttempt> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const timer = setTimeout(() => { s.destroy(); resolve('no-answer'); }, timeoutMs);
    s.once('connect', () => { clearTimeout(timer); s.destroy(); resolve('accepted'); });
    s.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(err.code === 'ECONNREFUSED' ? 'refused' : `error ${err.code ?? err.message}`);
    });
  });
}

/** True when host:port accepts a TCP connection within `timeoutMs`. */
export async function accepts(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return (await attemptConnect(host, port, timeoutMs)) === 'accepted';
}

/** The last attempt's outcome in words: "nothing listens" is said only when the connection was refused. */
function explain(host: string, port: number, last: ConnectAttempt, timeoutMs: number): string {
  if (last === 'refused') return `nothing listens on ${host}:${port} after ${timeoutMs} ms (connection refused)`;
  if (last === 'no-answer') return `${host}:${port} did not accept a connection within ${timeoutMs} ms (no answer to the connection request: its accept queue may be full, or packets are dropped)`;
  return `${host}:${port} did not accept a connection within ${timeoutMs} ms (${last.slice('error '.length)})`;
}

/**
 * Resolves once host:port accepts TCP connections, polling every `intervalMs`. Rejects after
 * `timeoutMs`, or as soon as `gone()` returns a reason (the process that should listen has exited:
 * waiting longer cannot help). Callers wrap the error in their own type or add the process's output.
 */
export async function waitForListener(host: string, port: number, opts: { timeoutMs: number; intervalMs?: number; gone?: () => string | undefined }): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const last = await attemptConnect(host, port);
    if (last === 'accepted') return;
    const reason = opts.gone?.();
    if (reason) throw new Error(reason);
    if (Date.now() > deadline) throw new Error(explain(host, port, last, opts.timeoutMs));
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 50));
  }
}
