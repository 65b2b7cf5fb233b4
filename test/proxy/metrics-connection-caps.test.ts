/**
 * The metrics endpoint shares the gateway's process with every route. Found in review: it took any
 * number of connections and kept those that never sent a byte open for good (headersTimeout starts
 * with a request's first byte), so one LAN host could use up the process's file descriptors before
 * the bearer token was ever asked for. Now: caps per address and in total, and an idle timeout.
 */
import http from 'node:http';
import type net from 'node:net';
import t from 'tap';
import { closedWithin, connectFrom } from '../helpers/connection-probes.ts';
import { Metrics } from '../../src/proxy/metrics.ts';
import { startMetricsServer } from '../../src/proxy/metrics-server.ts';
import { withTimeout } from '../protocols/fixtures/helpers.ts';
import { freeLoopbackPort, startGateway } from './fixtures/peers.ts';
import { proxyPki } from './fixtures/pki.ts';

const HOST = '127.55.2.1';



function scrape(port: number, from: string): Promise<number> {
  return withTimeout(new Promise<number>((resolve, reject) => {
    http.get({ host: HOST, port, path: '/metrics', localAddress: from, agent: false }, (res) => { res.resume(); resolve(res.statusCode ?? 0); }).on('error', reject);
  }), 5000, 'scrape');
}

t.test('one address cannot hold more than its share of the endpoint of a running gateway', async (t) => {
  const pki = await proxyPki(t);
  const cert = await pki.issue('gw', [HOST]);
  const port = await freeLoopbackPort();
  const routePort = await freeLoopbackPort();
  await startGateway(t, {
    routes: [{ name: 'in', direction: 'inbound', protocol: 'hl7', listen: `${HOST}:${routePort}`, upstream: `${HOST}:9`, tls: { cert: [cert.cert], key: [cert.key], ca: pki.trust } }],
    metrics: { listen: `${HOST}:${port}` },
  });
  const held: net.Socket[] = [];
  t.teardown(() => { for (const s of held) s.destroy(); });
  for (let i = 0; i < 8; i++) held.push(await connectFrom(HOST, port, '127.55.2.9'));
  const ninth = await connectFrom(HOST, port, '127.55.2.9');
  held.push(ninth);
  t.ok(await closedWithin(ninth, 2000) >= 0, 'the ninth idle connection from one address is closed at once');
  t.equal(await scrape(port, '127.55.2.10'), 200, 'another address still scrapes');
});

t.test('idle connections are closed, and the total is capped', async (t) => {
  const port = await freeLoopbackPort();
  const server = await startMetricsServer(new Metrics(), { host: HOST, port }, { caps: { maxConnections: 3, maxConnectionsPerAddress: 2 }, idleTimeoutMs: 500 });
  t.teardown(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  const a = await connectFrom(HOST, port, '127.55.2.20');
  const b = await connectFrom(HOST, port, '127.55.2.21');
  const c = await connectFrom(HOST, port, '127.55.2.22');
  const d = await connectFrom(HOST, port, '127.55.2.23');
  t.ok(await closedWithin(d, 300) >= 0, 'a fourth connection is refused while three are open');
  const waits = await Promise.all([a, b, c].map((s) => closedWithin(s, 5000)));
  for (const ms of waits) t.ok(ms >= 300 && ms < 3000, `a connection that never sent a byte is closed after ${ms} ms`);
  t.equal(await scrape(port, '127.55.2.23'), 200, 'once they are gone the endpoint answers again');
});
