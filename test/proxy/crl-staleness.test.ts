/**
 * A CRL past its nextUpdate (the cron job that fetches it stopped) is still enforced: refusing every peer
 * would take the route down. But it must not go unnoticed: the route logs it once and exports how
 * overdue it is, and a current CRL clears both.
 */
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { buildCrl } from '../../src/pki/crl.ts';
import { generateDeviceKey } from '../../src/pki/device-key.ts';
import { RevocationList } from '../../src/proxy/revocation.ts';
import { freeLoopbackPort, startGateway } from './fixtures/peers.ts';
import { proxyPki } from './fixtures/pki.ts';
import { testCa } from '../helpers/ca.ts';

const HOUR = 3_600_000;

t.test('a stale CRL: still enforced, reported once per file version, exported as overdue seconds', async (t) => {
  const { ca, work } = await testCa(t);
  const issuer = await ca.activeIssuer('ecdsa');
  const file = join(work, 'issuer.crl');
  const key = generateDeviceKey('ecdsa-p256');
  const { record } = await ca.issue({ spki: key.spki, keyType: 'ecdsa-p256', identifiers: [{ type: 'dns', value: 'ct1.klinikum.internal' }], profile: 'dicom-node' });
  const leaf = new X509Certificate(record.pem);
  // Signed two hours ago, valid for one: due an hour ago.
  writeFileSync(file, (await buildCrl(issuer, [{ serial: record.serial, reason: 1, revokedAt: new Date(Date.now() - 3 * HOUR).toISOString() }], 7, 1, Date.now() - 2 * HOUR)).toString('pem'));
  const reports: string[] = [];
  const list = new RevocationList(file, 0, (m) => reports.push(m));
  const overdue = list.secondsUntilNextUpdate()!;
  t.ok(overdue < -3500 && overdue > -3700, `about an hour overdue: ${overdue} s`);
  t.ok(list.check({ serialNumber: leaf.serialNumber, raw: leaf.raw }, new Set()) !== undefined, 'the certificate it lists is still refused');
  list.secondsUntilNextUpdate();
  t.equal(reports.length, 1, 'reported once, not on every check');
  t.match(reports[0], /past its nextUpdate .*still enforced; fetch a current CRL/);

  writeFileSync(file, (await buildCrl(issuer, [], 8, 24)).toString('pem'));
  const fresh = list.secondsUntilNextUpdate()!;
  t.ok(fresh > 23 * 3600, `a current CRL: due in ${fresh} s`);
  t.equal(reports.length, 1, 'and nothing more reported');
});

t.test('the gateway logs a stale tls.crl and exports wardgate_crl_next_update_seconds', async (t) => {
  const pki = await proxyPki(t);
  const gw = await pki.issue('gw', ['127.30.9.1']);
  const { ca, work } = await testCa(t);
  const file = join(work, 'stale.crl');
  writeFileSync(file, (await buildCrl(await ca.activeIssuer('ecdsa'), [], 3, 1, Date.now() - 2 * HOUR)).toString('pem'));
  const log: string[] = [];
  const port = await freeLoopbackPort();
  const gateway = await startGateway(t, {
    routes: [{ name: 'pacs-in', direction: 'inbound', protocol: 'dicom', listen: `127.30.9.1:${port}`, upstream: '127.0.0.1:9', tls: { cert: [gw.cert], key: [gw.key], ca: pki.trust, crl: file } }],
  }, log);
  const text = gateway.metrics.render();
  const value = Number(/^wardgate_crl_next_update_seconds\{route="pacs-in"\} (-?\d+)$/m.exec(text)?.[1]);
  t.ok(value < -3500, `exported as overdue: ${value}`);
  t.match(log.join('\n'), /route pacs-in: CRL file .*stale\.crl is past its nextUpdate/, 'logged with the route name');
});
