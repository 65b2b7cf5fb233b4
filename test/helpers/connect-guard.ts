/**
 * Records the host of every outgoing TCP connect in this process and refuses (destroys) any whose host
 * `allow` does not accept, so a bug can never reach a public address from a test. Default: 127.0.0.0/8,
 * localhost and ::1.
 */
import net from 'node:net';
import type tap from 'tap';

type T = Parameters<Parameters<typeof tap.test>[0]>[0];

export function recordConnects(t: T, allow: (host: string) => boolean = (h) => /^127\.|^localhost$|^::1$/.test(h)): string[] {
  const hosts: string[] = [];
  const original = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function guarded(this: net.Socket, ...args: unknown[]) {
    const first = Array.isArray(args[0]) ? (args[0] as unknown[])[0] : args[0];
    const host = typeof first === 'object' && first !== null ? String((first as { host?: string }).host ?? 'localhost') : String(args[1] ?? 'localhost');
    hosts.push(host);
    if (!allow(host)) {
      process.nextTick(() => this.destroy(new Error(`test guard: refused connection to ${host}`)));
      return this;
    }
    return (original as (...a: unknown[]) => net.Socket).apply(this, args);
  } as typeof net.Socket.prototype.connect;
  t.teardown(() => { net.Socket.prototype.connect = original; });
  return hosts;
}
