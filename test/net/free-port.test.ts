/**
 * freePort picks ports below the kernel's ephemeral range, never the same one twice in a process, and
 * only ports nothing listens on, on any IPv4 address (CI once lost a route's listen address to a port
 * bind(0) had handed out and the kernel then reused).
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import t from 'tap';
import { freePort } from '../../src/net/free-port.ts';

const ephemeralLow = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);

function listen(port: number, host: string): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ port, host, exclusive: true }, () => resolve(server));
  });
}

t.test('300 ports in a row: all distinct, all below the ephemeral range, each bindable on the host asked for', async (t) => {
  const ports: number[] = [];
  for (let i = 0; i < 300; i++) ports.push(await freePort('127.30.90.2'));
  t.equal(new Set(ports).size, ports.length, 'no port handed out twice');
  t.ok(ports.every((p) => p >= 1024 && p < ephemeralLow), `all in [1024, ${ephemeralLow})`);
  const server = await listen(ports[ports.length - 1], '127.30.90.2');
  server.close();
});

t.test('a port something listens on (on another loopback address) is not handed out', async (t) => {
  // Occupy a block of candidates on another address; freePort must step around every one of them.
  const occupied: net.Server[] = [];
  const busy = new Set<number>();
  for (let port = ephemeralLow - 12_000; port < ephemeralLow - 12_000 + 3_000; port++) {
    try {
      occupied.push(await listen(port, '127.30.90.3'));
      busy.add(port);
    } catch {
      // Taken by someone else already: also not a port freePort may return.
    }
  }
  t.teardown(() => occupied.forEach((s) => s.close()));
  const picks: number[] = [];
  for (let i = 0; i < 200; i++) picks.push(await freePort('127.30.90.2'));
  t.same(picks.filter((p) => busy.has(p)), [], 'none of the 200 picks is a port listened on at 127.30.90.3');
  t.ok(picks.some((p) => p >= ephemeralLow - 12_000 + 3_000), 'picks from the rest of the range');
});
