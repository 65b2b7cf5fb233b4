/**
 * The metrics endpoint is an admin surface: open on loopback only; anywhere else the config must name
 * a bearer token, and every request must carry it.
 * Found in review: it bound wherever `metrics.listen` said, with no authentication, so route names,
 * peer counts, denials and certificate expiry were readable by the whole network.
 */
import http from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { applicationActivity } from '../../src/audit/events.ts';
import { Gateway } from '../../src/proxy/gateway.ts';
import { Metrics } from '../../src/proxy/metrics.ts';
import { metricsAuth, startMetricsServer } from '../../src/proxy/metrics-server.ts';
import { validateGatewayConfig } from '../../src/proxy/route-config.ts';
import { tempDir } from '../helpers/tmp.ts';
import { freeLoopbackPort } from './fixtures/peers.ts';

const route = { name: 'r1', direction: 'inbound', protocol: 'dicom', listen: '127.0.0.1:1104', upstream: '127.0.0.1:104', tls: { cert: ['c.pem'], key: ['k.pem'], ca: 'ca.pem' } };

t.test('a metrics endpoint off loopback needs a token file', async (t) => {
  t.throws(() => validateGatewayConfig({ routes: [route], metrics: { listen: '10.20.0.9:9100' } }, 'gw.json'),
    { code: 'CONFIG_INVALID', message: /field "metrics\.tokenFile" is required when "metrics\.listen" \(10\.20\.0\.9:9100\) is not a loopback address/ });
  t.throws(() => validateGatewayConfig({ routes: [route], metrics: { listen: '0.0.0.0:9100' } }, 'gw.json'), { code: 'CONFIG_INVALID' }, 'all addresses is not loopback');
  t.ok(validateGatewayConfig({ routes: [route], metrics: { listen: '10.20.0.9:9100', tokenFile: 'metrics.token' } }, 'gw.json'), 'with a token file it is accepted');
  for (const listen of ['127.0.0.1:9100', '127.30.1.2:9100', 'localhost:9100', '[::1]:9100']) {
    t.ok(validateGatewayConfig({ routes: [route], metrics: { listen } }, 'gw.json'), `${listen}: loopback may be open`);
  }
});

t.test('with a token, every request must carry it', async (t) => {
  const dir = tempDir(t);
  const weak = join(dir, 'weak.token');
  writeFileSync(weak, 'short\n');
  t.throws(() => metricsAuth({ tokenFile: weak }), { code: 'CONFIG_INVALID', message: /at least 16 characters/ });
  t.throws(() => metricsAuth({ tokenFile: join(dir, 'missing.token') }), { code: 'CONFIG_INVALID', message: /cannot be read/ });
  const file = join(dir, 'metrics.token');
  const token = 'f3a9c1d0e8b7a6954433221100ffeedd';
  writeFileSync(file, `${token}\n`);
  const metrics = new Metrics();
  const port = await freeLoopbackPort();
  const server = await startMetricsServer(metrics, { host: '127.30.8.1', port }, metricsAuth({ tokenFile: file }));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const get = (headers: Record<string, string>) => new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
    http.get({ host: '127.30.8.1', port, path: '/metrics', headers }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    }).on('error', reject);
  });
  const none = await get({});
  t.equal(none.status, 401, 'no token: 401');
  t.match(none.headers['www-authenticate'], /^Bearer /);
  t.notMatch(none.body, /wardgate_/, 'and no metric in the answer');
  t.equal((await get({ authorization: 'Bearer wrong-token-wrong-token' })).status, 401, 'wrong token: 401');
  t.equal((await get({ authorization: `Basic ${Buffer.from(`x:${token}`).toString('base64')}` })).status, 401, 'another scheme: 401');
  const ok = await get({ authorization: `Bearer ${token}` });
  t.equal(ok.status, 200, 'the token: 200');
  t.match(ok.headers['content-type'], /^text\/plain; version=0\.0\.4/);
});

t.test('audit records a sink drops are a metric', async (t) => {
  // The file sink cannot open a file in a directory that does not exist: the first record, written
  // before the open failed, is lost and counted, and so is every record until it may try again.
  const gateway = new Gateway({ routes: [], audit: { file: join(tempDir(t), 'no-such-dir', 'audit.log') } } as never, { log: () => undefined });
  gateway.auditor.record(applicationActivity(gateway.auditor.identity, 'start', 'r1'));
  await new Promise((r) => setTimeout(r, 100));
  for (let i = 0; i < 3; i++) gateway.auditor.record(applicationActivity(gateway.auditor.identity, 'start', 'r1'));
  t.match(gateway.metrics.render(), /^wardgate_audit_records_dropped_total\{sink="file"\} 4$/m);
});
