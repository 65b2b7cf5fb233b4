import net from 'node:net';

/** True when host:port accepts a TCP connection now (the connection is closed at once). */
export function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
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
