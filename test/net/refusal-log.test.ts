/**
 * Connections refused by the connection caps are logged (found in review: onRefused had no caller, so an
 * operator never learned that a host was being turned away), and a flood of refusals does not flood the log:
 * one line at once, then at most one line per reason per 10 s carrying the count. Real sockets against the
 * metrics endpoint, the http-01 responder and both `wardgate serve` listeners.
 */
import type net from 'node:net';
import t from 'tap';
import { startServer } from '../../src/acme/serve.ts';
import { freePort } from '../../src/net/free-port.ts';
import { refusalLog } from '../../src/net/refusal-log.ts';
import { Http01Responder } from '../../src/proxy/cert-manager/http01.ts';
import { startMetricsServer } from '../../src/proxy/metrics-server.ts';
import { testCa } from '../helpers/ca.ts';
import { closedWithin, connectFrom } from '../helpers/connection-probes.ts';

const HOST = '127.45.3.1';

type T = Parameters<Parameters<typeof t.test>[0]>[0];

/** Holds `hold` connections from `from`, then opens `burst` more, each of which the caps must close. */
async function overCap(t: T, port: number, from: string, hold: number, burst: number): Promise<void> {
  const held: net.Socket[] = [];
  t.teardown(() => { for (const s of held) s.destroy(); });
  for (let i = 0; i < hold; i++) held.push(await connectFrom(HOST, port, from));
  const extra = await Promise.all(Array.from({ length: burst }, () => connectFrom(HOST, port, from)));
  const closed = await Promise.all(extra.map((s) => closedWithin(s, 2000)));
  t.ok(closed.every((ms) => ms >= 0), `all ${burst} connections over the cap were closed`);
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('metrics endpoint: a burst of refusals is one line at once, then one line with the count after 10 s', async (t) => {
  const port = await freePort(HOST);
  const log: string[] = [];
  const server = await startMetricsServer({ render: () => '' }, { host: HOST, port }, { caps: { maxConnections: 64, maxConnectionsPerAddress: 2 }, log: (m) => log.push(m) });
  t.teardown(() => { server.closeAllConnections(); return new Promise<void>((r) => server.close(() => r())); });
  await overCap(t, port, '127.45.3.9', 2, 30);
  t.same(log, [`metrics endpoint ${HOST}:${port}: refused a connection: peer 127.45.3.9 has 2 connections, the per-peer limit is 2`], 'one line for the first refusal, naming the address');
  await wait(10_500);
  t.equal(log.length, 2, 'one more line when the window ends');
  t.equal(log[1], `metrics endpoint ${HOST}:${port}: refused 29 more connections in the last 10 s: peer 127.45.3.9 has 2 connections, the per-peer limit is 2`, 'with the count of the rest');
});

t.test('http-01 responder: refusals logged', async (t) => {
  const port = await freePort(HOST);
  const log: string[] = [];
  const responder = new Http01Responder({ host: HOST, port }, (m) => log.push(m));
  await responder.start();
  t.teardown(() => responder.stop());
  await overCap(t, port, '127.45.3.10', 16, 10);
  // The window's count line comes 10 s after the first refusal: only under a very slow host would it be in already.
  t.same(log.filter((l) => l.includes(': refused a connection: ')), [`http-01 responder ${HOST}:${port}: refused a connection: peer 127.45.3.10 has 16 connections, the per-peer limit is 16`], 'one line for ten refusals');
});

t.test('wardgate serve: both listeners log refusals', async (t) => {
  const { ca } = await testCa(t);
  const port = await freePort(HOST);
  const log: string[] = [];
  const server = await startServer(ca, { listen: { host: HOST, port }, httpListen: { host: HOST, port: 0 }, acme: {}, limits: { maxConnectionsPerAddress: 2 }, log: (m) => log.push(m) });
  t.teardown(() => server.close());
  const httpPort = Number(new URL(server.distributionUrl).port);
  await overCap(t, port, '127.45.3.11', 2, 5);
  await overCap(t, httpPort, '127.45.3.12', 2, 5);
  const first = log.filter((l) => l.includes(': refused a connection: '));
  t.equal(first.length, 2, `one line per listener: ${log.join(' | ')}`);
  t.match(first[0], new RegExp(`^ACME listener ${HOST}:${port}: refused a connection: peer 127\\.45\\.3\\.11 has 2 connections`));
  t.match(first[1], new RegExp(`^distribution listener ${HOST}:${httpPort}: refused a connection: peer 127\\.45\\.3\\.12 has 2 connections`));
});

t.test('the rate limit itself', async (t) => {
  t.test('a continuing flood: one line per window, each with its count', async (t) => {
    const log: string[] = [];
    const refused = refusalLog((m) => log.push(m), 'x', { windowMs: 200 });
    let calls = 0;
    const flood = setInterval(() => { calls++; refused('too many'); }, 5);
    await wait(700);
    clearInterval(flood);
    // Long enough for the last window with a count and the empty one after it to close, also on a loaded host.
    await wait(1500);
    t.ok(log.length >= 3 && log.length <= 6, `${log.length} lines for ${calls} refusals over 700 ms`);
    t.equal(log[0], 'x: refused a connection: too many');
    t.ok(log.slice(1).every((l) => /^x: refused \d+ more connections? in the last 0\.2 s: too many$/.test(l)), 'the rest carry counts');
    const counted = 1 + log.slice(1).reduce((n, l) => n + Number(/refused (\d+) more/.exec(l)![1]), 0);
    t.equal(counted, calls, 'every refusal is counted');
    const before = log.length;
    refused('too many');
    t.equal(log.length, before + 1, 'after a quiet window the next refusal is logged at once');
  });

  t.test('many addresses: the number of lines is bounded too', async (t) => {
    const log: string[] = [];
    const refused = refusalLog((m) => log.push(m), 'x', { windowMs: 200, maxReasons: 4 });
    for (let i = 0; i < 1000; i++) refused(`peer 10.0.${i >> 8}.${i & 255} has 2 connections`);
    t.equal(log.length, 5, 'four addresses, then one line for the rest');
    t.match(log[4], /further addresses/);
    await wait(1000);
    t.equal(log.length, 6, 'and one line with their count when the window ends');
    t.match(log[5], /refused 995 more connections in the last 0\.2 s: further addresses/);
  });
});
