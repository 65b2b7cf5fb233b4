/**
 * The global connection rate limit holds, measured where it matters: at the listening side. Twenty
 * real listeners on one address count every accepted connection; the scanner runs with --rate 10
 * and --per-host 4 (to push against the limit), and no one-second window may see more than 10.
 * Per-host concurrency 1 (the default) is checked the same way: never two connections at once.
 */
import net from 'node:net';
import t from 'tap';
import { runScan } from '../../src/scan/run.ts';

async function listeners(address: string, ports: number[]) {
  const accepts: number[] = [];
  let open = 0;
  let maxOpen = 0;
  const servers = await Promise.all(ports.map((port) => new Promise<net.Server>((resolve, reject) => {
    const server = net.createServer((socket) => {
      accepts.push(performance.now());
      open++;
      maxOpen = Math.max(maxOpen, open);
      socket.on('error', () => {});
      socket.on('close', () => open--);
      // A silent service: closes after 50 ms, like a device that does not speak our protocols.
      setTimeout(() => socket.destroy(), 50);
    });
    server.once('error', reject);
    server.listen(port, address, () => resolve(server));
  })));
  return { accepts, maxOpen: () => maxOpen, close: () => Promise.all(servers.map((s) => new Promise((r) => s.close(r)))) };
}

function maxInWindow(times: number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[i] - sorted[j] >= windowMs) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

const ports = Array.from({ length: 20 }, (_, i) => 39100 + i);

t.test('no one-second window holds more connections than --rate', async (t) => {
  const l = await listeners('127.20.0.50', ports);
  t.teardown(l.close);
  const started = performance.now();
  const r = await runScan({ targets: ['127.20.0.50'], ports, rate: 10, perHost: 4, timeoutMs: 2000, format: 'json', out: '/dev/null' });
  const elapsed = performance.now() - started;
  t.ok(l.accepts.length >= 20, `${l.accepts.length} connections accepted by the listeners`);
  // The listeners share the scanner's event loop: an accept is timestamped when the loop gets to it, up to
  // a scheduling delay D after the scanner's connection start. Accepts in a window of 1000 - D ms then come
  // from starts in a window of at most 1000 ms, so the bound holds for D <= 100 ms (a CI run once saw 11 in
  // a full 1 s window of accept times, while the scanner's own starts held 10).
  t.ok(maxInWindow(l.accepts, 900) <= 10, `at most 10 accepts in any 0.9 s window (saw ${maxInWindow(l.accepts, 900)}; in 1 s: ${maxInWindow(l.accepts, 1000)})`);
  t.ok(maxInWindow(r.connectionTimes, 1000) <= 10, 'and at most 10 connection starts by the scanner');
  t.ok(elapsed >= ((r.scan.connections - 10) / 10) * 1000, `${r.scan.connections} connections took ${Math.round(elapsed)} ms`);
});

t.test('per-host concurrency 1 by default: never two connections to one host at once', async (t) => {
  const l = await listeners('127.20.0.51', ports.slice(0, 6));
  t.teardown(l.close);
  await runScan({ targets: ['127.20.0.51'], ports: ports.slice(0, 6), rate: 1000, timeoutMs: 2000, format: 'json', out: '/dev/null' });
  t.ok(l.accepts.length >= 6, `${l.accepts.length} connections`);
  t.equal(l.maxOpen(), 1, 'at most one open connection at any time');
});
