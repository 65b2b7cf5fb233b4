/**
 * audit.syslog.reconnectMs and audit.syslog.resendWindowMs in the gateway config file: validated with
 * bounds, and passed to the syslog sink, as a real rsyslog collector (imtcp + gtls) shows: the
 * reconnection back-off starts at reconnectMs, and records handed to a connection within
 * resendWindowMs before the collector crashed are sent again.
 */
import { join } from 'node:path';
import t from 'tap';
import { validateGatewayConfig } from '../../src/proxy/route-config.ts';
import { tempDir } from '../helpers/tmp.ts';
import { withTimeout } from '../protocols/fixtures/helpers.ts';
import { freeLoopbackPort, peerOption, startGateway } from '../proxy/fixtures/peers.ts';
import { type ProxyPki, proxyPki } from '../proxy/fixtures/pki.ts';
import { RsyslogCollector } from './fixtures/rsyslog-collector.ts';

const GW = '127.30.114.1';
const COLLECTOR = '127.30.114.2';
const COLLECTOR_NAME = 'audit.klinikum.internal';
const GW_CLIENT_NAME = 'gw.klinikum.internal';

type T = Parameters<typeof startGateway>[0];

const route = (port: number) => ({ name: 'lis-out', direction: 'outbound', protocol: 'hl7', listen: `${GW}:${port}`, upstream: '127.0.0.1:2576', tls: { cert: ['c.pem'], key: ['k.pem'], ca: 'ca.pem' } });

async function until(what: string, ok: () => boolean, timeoutMs: number): Promise<void> {
  await withTimeout(new Promise<void>((resolve) => {
    const check = () => (ok() ? resolve() : setTimeout(check, 50));
    check();
  }), timeoutMs, what);
}

/** An rsyslog collector (its name in permittedPeers decides whether it keeps our connection) and a gateway auditing to it. */
async function collectorAndGateway(t: T, permittedPeer: string, syslog: Record<string, unknown>) {
  const pki: ProxyPki = await proxyPki(t);
  const dir = tempDir(t);
  const collectorCert = await pki.issue('collector', [COLLECTOR_NAME]);
  const port = await freeLoopbackPort();
  const collector = new RsyslogCollector(dir, COLLECTOR, port, { ca: pki.trust, cert: collectorCert.cert, key: collectorCert.key, authMode: 'x509/name', permittedPeers: [permittedPeer] });
  t.teardown(() => collector.stop('SIGKILL'));
  await collector.start();
  const routeCert = await pki.issue('gw-route', ['ris-gw.klinikum.internal']);
  const client = await pki.issue('gw-syslog-client', [GW_CLIENT_NAME]);
  const log: string[] = [];
  const gateway = await startGateway(t, {
    routes: [{ ...route(await freeLoopbackPort()), tls: { cert: [routeCert.cert], key: [routeCert.key], ca: pki.trust } }],
    audit: { file: join(dir, 'audit.log'), syslog: { address: `${COLLECTOR}:${port}`, ca: pki.trust, cert: client.cert, key: client.key, serverName: COLLECTOR_NAME, ...syslog } },
  }, log);
  return { collector, gateway, log };
}

t.test('audit.syslog.reconnectMs and resendWindowMs: accepted within bounds, refused outside, naming the field', async (t) => {
  const config = (syslog: Record<string, unknown>) => ({ routes: [route(2575)], audit: { syslog: { address: `${COLLECTOR}:6514`, ca: 'ca.pem', ...syslog } } });
  const loaded = validateGatewayConfig(config({ reconnectMs: 500, resendWindowMs: 10_000 }), 'gw.json').audit?.syslog;
  t.same([loaded?.reconnectMs, loaded?.resendWindowMs], [500, 10_000], 'both options are read from the file');
  const refused: Array<[string, unknown]> = [
    // Bounds as documented: reconnectMs 100-60000, resendWindowMs 100-30000.
    ['reconnectMs', 99], ['reconnectMs', 60_001], ['reconnectMs', 250.5], ['reconnectMs', '2s'],
    ['resendWindowMs', 99], ['resendWindowMs', 30_001], ['resendWindowMs', -1], ['resendWindowMs', null],
  ];
  for (const [field, value] of refused) {
    t.throws(() => validateGatewayConfig(config({ [field]: value }), 'gw.json'), { code: 'CONFIG_INVALID', message: new RegExp(`^gw\\.json: field "audit\\.syslog\\.${field}" `) }, `${field} ${JSON.stringify(value)} refused`);
  }
});

t.test('reconnectMs from the config: the back-off starts there (rsyslog refusing the gateway name)', peerOption('rsyslogd'), async (t) => {
  // rsyslog completes the TLS handshake, then refuses our name and closes: each attempt is one
  // "peer name not authorized" line. Doubling from 100 ms, six attempts take about 3 s; from the
  // default 2 s they take about a minute.
  const { collector } = await collectorAndGateway(t, 'other-gw.klinikum.internal', { reconnectMs: 100 });
  const refusals = () => collector.output.match(/peer name not authorized/g)?.length ?? 0;
  await until('six connection attempts', () => refusals() >= 6, 30_000).catch((err) => t.fail(`${(err as Error).message}: ${refusals()} attempts`));
  t.ok(refusals() >= 6, `${refusals()} attempts within 30 s`);
  t.same(collector.records(), [], 'nothing accepted');
});

t.test('resendWindowMs from the config: records delivered 3 s before a collector crash are sent again', peerOption('rsyslogd'), async (t) => {
  const { collector, log } = await collectorAndGateway(t, GW_CLIENT_NAME, { reconnectMs: 200, resendWindowMs: 30_000 });
  const starts = () => collector.records().filter((r) => r.msg.includes('csd_code="110120"')).length;
  await until('Application Start at rsyslog', () => starts() === 1, 20_000);
  // Older than the default window (2 s), within the configured one (30 s). No event marks the
  // passing of a window: this wait is the precondition, not the assertion.
  await new Promise((r) => setTimeout(r, 3000));
  await collector.stop('SIGKILL');
  await until('the gateway noticed the lost connection', () => /will be sent again/.test(log.join('\n')), 20_000).catch((err) => t.fail(`${(err as Error).message}: ${log.join('\n')}`));
  t.match(log.join('\n'), /connection closed; 1 audit record\(s\) it may not have read will be sent again/, 'the record within the window is queued again');
  await collector.start();
  await until('Application Start sent again', () => starts() === 2, 30_000).catch((err) => t.fail(`${(err as Error).message}: ${log.join('\n')}`));
  t.equal(starts(), 2, 'rsyslog has the record twice: once before the crash, once resent');
});
