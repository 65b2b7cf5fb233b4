/**
 * Caddy (Debian caddy 2.6.2, certmagic inside) against wardgate: a Caddyfile with `acme_ca` and
 * `acme_ca_root` pointing at the CA, one site obtained over http-01 (RFC 8555 §8.3) and one over
 * tls-alpn-01 (RFC 8737), each then served by Caddy and checked with openssl s_client against the root.
 * Caddy 2.6 predates certmagic's ARI support (RFC 9773), so renewal information is proven with mod_md
 * (apache-mod-md.test.ts) instead.
 */
import t from 'tap';
import { startAcmeEnv } from './fixtures/acme-env.ts';
import { startCaddy } from './fixtures/caddy.ts';
import { requirePeers, skipUnlessPeers } from './fixtures/peers.ts';
import { stored, validatedChallengeTypes } from './fixtures/store-checks.ts';
import { servedCertificate } from './fixtures/tls-serving.ts';
import { assertIssued, leafInfo } from './fixtures/verify.ts';

const PEERS = ['caddy', 'pebble-challtestsrv', 'openssl'];
const HTTP_SITE = 'caddy-http.wardgate.test';
const ALPN_SITE = 'caddy-alpn.wardgate.test';

t.test('Caddy obtains and serves certificates over http-01 and tls-alpn-01', { skip: skipUnlessPeers(...PEERS) }, async (t) => {
  if (!requirePeers(t, ...PEERS)) return;
  const env = await startAcmeEnv(t, { server: '127.30.6.1', device: '127.30.6.2' });
  const caddy = await startCaddy(t, {
    host: env.deviceHost, httpPort: env.http01Port, httpsPort: env.tlsAlpn01Port, directoryUrl: env.directoryUrl, rootPem: env.rootPem,
    sites: { [HTTP_SITE]: ['disable_tlsalpn_challenge'], [ALPN_SITE]: ['disable_http_challenge'] },
  });

  for (const [name, challenge] of [[HTTP_SITE, 'http-01'], [ALPN_SITE, 'tls-alpn-01']]) {
    await t.test(challenge, async (t) => {
      await caddy.waitForCertificate(name);
      const pem = caddy.storedCert(name);
      t.ok(pem, `Caddy stored a certificate for ${name}`);
      const info = assertIssued(t, env, pem!, [name], `${challenge} certificate`);
      t.equal(stored(env, info.serial)?.status, 'valid', 'stored as valid');
      t.same(validatedChallengeTypes(env, info.serial), [challenge], `validated by ${challenge}`);
      const served = await servedCertificate(env.deviceHost, env.tlsAlpn01Port, name, env.rootPem);
      t.ok(served.ok, `openssl s_client -verify_return_error accepts what Caddy serves: ${served.output}`);
      t.equal(served.leafPem && leafInfo(served.leafPem).serial, info.serial, 'Caddy serves the certificate it obtained');
    });
  }
});
