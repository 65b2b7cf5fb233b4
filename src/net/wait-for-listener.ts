import net from 'node:net';

/**
 * True when host:port accepts a TCP connection within `timeoutMs` (the connection is closed at once).
 * Bounded: a listener whose accept queue is full drops the SYN, and the kernel would retry the
 * connection for tens of seconds.
 */
export function accepts(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const timer = setTimeout(() => { s.destroy(); resolve(false); }, timeoutMs);
    s.once('connect', () => { clearTimeout(timer); s.destroy(); resolve(true); });
    s.once('error', () => { clearTimeout(timer); resolve(false); });
  });
}

/**
 * Resolves once host:port accepts TCP connections, polling every `intervalMs`. Rejects after
 * `timeoutMs`, or as soon as `gone()` returns a reason (the process that should listen has exited:
 * waiting longer cannot help). Callers wrap the error in their own type or add the process's output.
 */
export async function waitForListener(host: string, port: number, opts: { timeoutMs: number; intervalMs?: number; gone?: () => string | undefined }): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    if (await accepts(host, port)) return;
    const reason = opts.gone?.();
    if (reason) throw new Error(reason);
    if (Date.now() > deadline) throw new Error(`nothing listens on ${host}:${port} after ${opts.timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 50));
  }
}
