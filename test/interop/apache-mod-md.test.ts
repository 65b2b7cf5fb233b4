/**
 * Apache httpd's mod_md (Debian apache2 2.4.71, mod_md 2.6.10) against wardgate: the ACME client built
 * into the web server many hospitals already run. A throwaway httpd obtains its certificate over http-01
 * (RFC 8555 §8.3) with an ACME profile chosen by `MDProfile` (draft-ietf-acme-profiles §4), serves it,
 * renews when `wardgate renew-early` moves the ARI window (RFC 9773 §4.2) naming the old certificate in
 * `replaces` (§5), and renews over tls-alpn-01 (RFC 8737) when its own renew window forces it.
 * mod_md stages a new certificate and activates it on the next graceful restart, as an admin's
 * `apachectl graceful` (or logrotate's) would.
 */
import t, { type Test } from 'tap';
import { certIdOf } from '../../src/acme/ari.ts';
import { x509 } from '../../src/pki/x509.ts';
import { TEST_PASSPHRASE } from '../helpers/ca.ts';
import { BIN } from '../helpers/cli.ts';
import { startAcmeEnv } from './fixtures/acme-env.ts';
import { startApacheMd } from './fixtures/apache-md.ts';
import { requirePeers, run, skipUnlessPeers, tail } from './fixtures/peers.ts';
import { stored, validatedChallengeTypes } from './fixtures/store-checks.ts';
import { servedCertificate } from './fixtures/tls-serving.ts';
import { assertIssued, leafInfo } from './fixtures/verify.ts';

// Debian installs httpd in /usr/sbin, which is not on an unprivileged user's PATH.
if (!(process.env.PATH ?? '').split(':').includes('/usr/sbin')) process.env.PATH = `${process.env.PATH}:/usr/sbin`;
const PEERS = ['apache2', 'pebble-challtestsrv', 'openssl'];
const NAME = 'apache.wardgate.test';

t.test('Apache mod_md obtains, serves and renews via ARI and tls-alpn-01', { skip: skipUnlessPeers(...PEERS) }, async (t) => {
  if (!requirePeers(t, ...PEERS)) return;
  // renewalInfo answers ask for a re-check after 1 s (RFC 9773 §4.3 Retry-After), so mod_md's next
  // watchdog run asks again instead of trusting a six-hour-old answer.
  const env = await startAcmeEnv(t, { server: '127.30.5.1', device: '127.30.5.2' }, { ariRetryAfterSeconds: 1 });
  // Apache's https port is the CA's tls-alpn-01 port: mod_md answers acme-tls/1 on its own TLS listener.
  const httpsPort = env.tlsAlpn01Port;
  const mdomain = ['MDCAChallenges http-01', 'MDProfile web-server'];
  const apache = await startApacheMd(t, {
    host: env.deviceHost, httpPort: env.http01Port, httpsPort, domain: NAME, directoryUrl: env.directoryUrl, rootPem: env.rootPem, mdomain,
  });
  const order = (serial: string) => env.ca.store.acme.getOrder(stored(env, serial)!.orderId!)!;
  /** Activates what mod_md staged, then checks that Apache serves exactly the active certificate. */
  const activateAndServe = async (t: Test, label: string, mdomainNow = mdomain) => {
    await apache.graceful(mdomainNow);
    const active = apache.activeCert();
    t.ok(active, `${label}: md/domains/${NAME}/pubcert.pem exists after the graceful restart`);
    const info = assertIssued(t, env, active!, [NAME], label);
    const served = await servedCertificate(env.deviceHost, httpsPort, NAME, env.rootPem);
    t.ok(served.ok, `${label}: openssl s_client -verify_return_error accepts what Apache serves: ${served.output}`);
    t.equal(served.leafPem && leafInfo(served.leafPem).serial, info.serial, `${label}: Apache serves the certificate mod_md obtained`);
    return info.serial;
  };

  let first = '';
  await t.test('http-01 with MDProfile web-server', async (t) => {
    await apache.waitForEvent('renewed', 0);
    first = await activateAndServe(t, 'first certificate');
    t.same(validatedChallengeTypes(env, first), ['http-01'], 'validated by http-01');
    t.equal(order(first).profile, 'web-server', 'newOrder carried "profile": "web-server" (the default would be dicom-node)');
    const eku = new x509.X509Certificate(stored(env, first)!.pem).getExtension(x509.ExtendedKeyUsageExtension);
    t.same(eku?.usages, ['1.3.6.1.5.5.7.3.1'], 'the web-server profile was applied: serverAuth only, no clientAuth');
    t.equal(order(first).replaces, undefined, 'a first order replaces nothing');
  });

  let second = '';
  await t.test('wardgate renew-early: mod_md renews via ARI and names the old certificate in replaces', async (t) => {
    const events = apache.events().length;
    const logFrom = apache.errorLog().length;
    const r = await run(process.execPath, [BIN, 'renew-early', '-d', env.dir, '--serial', first], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, WARDGATE_CA_PASSPHRASE: TEST_PASSPHRASE },
    });
    t.equal(r.code, 0, `wardgate renew-early: ${tail(r)}`);
    await apache.waitForEvent('renewed', events);
    t.match(apache.errorLog().slice(logFrom), /CA advises renew via ARI now/, 'mod_md says the CA advised renewal via ARI');
    second = await activateAndServe(t, 'renewed certificate');
    t.not(second, first, 'a new certificate');
    // mod_md 2.6.10 leaves out the serial's DER sign byte when its high bit is set; the CA keeps the §4.1 form.
    t.equal(order(second).replaces, certIdOf(stored(env, first)!.pem), 'newOrder "replaces" is the ARI certID of the old certificate (RFC 9773 §5)');
    t.equal(order(second).profile, 'web-server', 'the renewal keeps the profile');
  });

  await t.test('tls-alpn-01 renewal forced by MDRenewWindow', async (t) => {
    const events = apache.events().length;
    // A renew window longer than the 90-day lifetime: mod_md renews at once.
    const forced = ['MDCAChallenges tls-alpn-01', 'MDProfile web-server', 'MDRenewWindow 100d'];
    await apache.graceful(forced);
    await apache.waitForEvent('renewed', events);
    // Back to the normal window, so that the activated certificate is not renewed once more.
    const third = await activateAndServe(t, 'tls-alpn-01 certificate', mdomain);
    t.not(third, second, 'a new certificate');
    t.same(validatedChallengeTypes(env, third), ['tls-alpn-01'], 'validated by tls-alpn-01');
  });
});
