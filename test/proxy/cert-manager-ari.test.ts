/**
 * The gateway's certificate manager is wardgate's own ARI client (RFC 9773): `wardgate renew-early` only
 * helps if it asks the CA again. Against a real wardgate ACME server over HTTPS, with certificates of
 * a 10-minute profile (plus the CA's 5-minute backdating), so the usual renewal would come minutes later:
 * after renew-early moves the window, the manager's next check (the server's Retry-After, 1 s here)
 * renews the certificate and hands the new one to its listeners.
 */
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { startServer } from '../../src/acme/serve.ts';
import { CertificateAuthority } from '../../src/pki/ca.ts';
import { normalizeSerial } from '../../src/pki/serial.ts';
import { parseRetryAfter } from '../../src/proxy/cert-manager/ari.ts';
import { Http01Responder } from '../../src/proxy/cert-manager/http01.ts';
import { CertManager } from '../../src/proxy/cert-manager/manager.ts';
import { nextAriCheckMs } from '../../src/proxy/cert-manager/renewal.ts';
import type { Credentials } from '../../src/proxy/credentials.ts';
import { TEST_PASSPHRASE } from '../helpers/ca.ts';
import { tempDir } from '../helpers/tmp.ts';
import { withTimeout } from '../protocols/fixtures/helpers.ts';
import { freeLoopbackPort } from './fixtures/peers.ts';

const SERVER = '127.45.0.1';
const DEVICE = '127.45.0.2';
const NAME = 'gw.wardgate.test';
const PROFILES = join(import.meta.dirname, '..', '..', 'profiles', 'cert');

t.test('Retry-After and the check interval', async (t) => {
  t.equal(parseRetryAfter('120'), 120_000, 'delta-seconds');
  t.equal(parseRetryAfter(new Date(Date.now() + 90_000).toUTCString(), Date.now()) !== undefined, true, 'an HTTP-date');
  t.equal(parseRetryAfter('soon'), undefined, 'nonsense is no Retry-After');
  t.equal(nextAriCheckMs(1000), 60_000, 'a CA asking for checks every second gets one a minute');
  t.equal(nextAriCheckMs(90 * 86_400_000), 86_400_000, 'a CA asking for none for 90 days still gets one a day');
  t.equal(nextAriCheckMs(undefined), 6 * 3_600_000, 'no Retry-After: every 6 hours');
});

t.test('wardgate renew-early reaches the gateway: the manager re-checks ARI at Retry-After and renews', async (t) => {
  const work = tempDir(t);
  const profiles = join(work, 'profiles');
  mkdirSync(profiles);
  for (const f of readdirSync(PROFILES).filter((n) => n.endsWith('.json'))) copyFileSync(join(PROFILES, f), join(profiles, f));
  const base = JSON.parse(readFileSync(join(PROFILES, 'dicom-node.json'), 'utf8'));
  writeFileSync(join(profiles, 'short.json'), JSON.stringify({ ...base, name: 'short', lifetime: '10m', description: 'test: 10 minutes' }));
  const ca = await CertificateAuthority.init(join(work, 'data'), {
    name: 'Wardgate ARI test', policy: { permitDns: ['wardgate.test'], permitIp: ['127.0.0.0/8'] },
    rootKeyType: 'ecdsa-p256', rsaKeyType: 'rsa-2048', passphrase: TEST_PASSPHRASE, profilesDir: profiles,
  });
  const http01Port = await freeLoopbackPort();
  const server = await startServer(ca, {
    listen: { host: SERVER, port: await freeLoopbackPort() },
    httpListen: { host: SERVER, port: 0 },
    acme: { defaultProfile: 'short', ariRetryAfterSeconds: 1, validation: { http01Port, staticHosts: { [NAME]: [DEVICE] }, timeoutMs: 5000 } },
  });
  const http01 = new Http01Responder({ host: DEVICE, port: http01Port });
  const manager = new CertManager({
    directoryUrl: server.directoryUrl, names: [NAME], stateDir: join(work, 'acme'), http01,
    directoryCa: readFileSync(ca.layout.rootCert, 'utf8'), keyTypes: ['ecdsa'], ariMinPollMs: 200,
  });
  t.teardown(async () => {
    manager.stop();
    await http01.stop();
    await server.close();
    ca.close();
  });

  const first = await manager.start();
  const oldSerial = new X509Certificate(first.pairs[0].cert).serialNumber;
  const due = manager.schedule().ecdsa;
  t.ok(due.getTime() > Date.now() + 60_000, `first renewal is minutes away, inside the CA's window (${due.toISOString()})`);

  const renewed = new Promise<Credentials>((resolve) => manager.onChange(resolve));
  // What `wardgate renew-early --serial` does.
  const moved = ca.store.setRenewAfter([normalizeSerial(oldSerial)], new Date().toISOString(), { event: 'cert.renew-early', actor: 'test', data: {} });
  t.equal(moved, 1, 'renew-early moved the window of the gateway certificate');

  const creds = await withTimeout(renewed, 30_000, 'the manager to renew after renew-early');
  const newSerial = new X509Certificate(creds.pairs[0].cert).serialNumber;
  t.not(newSerial, oldSerial, `renewed at the next ARI check (${oldSerial} -> ${newSerial})`);
  t.ok(manager.schedule().ecdsa.getTime() > Date.now() + 60_000, 'the new certificate gets a schedule of its own, not the old "renew now"');
});
