/**
 * dehydrated (bash + curl + openssl, Debian package): the smallest client a device vendor might embed.
 * http-01 through a webroot (WELLKNOWN) that the device's own web server serves, dns-01 through its hook
 * API (deploy_challenge / clean_challenge) publishing TXT records in the test DNS server, forced renewal,
 * and revocation (RFC 8555 §7.6). curl trusts DIR/ca/root.pem through CURL_CA_BUNDLE.
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { startAcmeEnv } from './fixtures/acme-env.ts';
import { requirePeers, run, skipUnlessPeers, tail } from './fixtures/peers.ts';
import { stored, validatedChallengeTypes } from './fixtures/store-checks.ts';
import { assertIssued, revokedPerCrl } from './fixtures/verify.ts';
import { startStaticWebServer } from './fixtures/web-server.ts';

const PEERS = ['dehydrated', 'curl', 'python3', 'pebble-challtestsrv', 'openssl'];

t.test('dehydrated issues, renews and revokes', { skip: skipUnlessPeers(...PEERS) }, async (t) => {
  if (!requirePeers(t, ...PEERS)) return;
  const env = await startAcmeEnv(t, { server: '127.31.10.1', device: '127.31.10.2' });
  const base = join(env.work, 'dehydrated');
  const webroot = join(env.work, 'www');
  const wellKnown = join(webroot, '.well-known', 'acme-challenge');
  mkdirSync(wellKnown, { recursive: true });
  mkdirSync(base);
  await startStaticWebServer(t, env.deviceHost, env.http01Port, webroot);
  // dehydrated's hook protocol: HOOK deploy_challenge DOMAIN TOKEN_FILENAME TOKEN_VALUE (value = TXT for dns-01).
  const hook = join(base, 'hook.sh');
  writeFileSync(hook, `#!/bin/sh
case "$1" in
  deploy_challenge) curl -sf -X POST -d "{\\"host\\":\\"_acme-challenge.$2.\\",\\"value\\":\\"$4\\"}" ${env.dns.managementUrl}/set-txt ;;
  clean_challenge) curl -sf -X POST -d "{\\"host\\":\\"_acme-challenge.$2.\\"}" ${env.dns.managementUrl}/clear-txt ;;
esac
exit 0
`);
  chmodSync(hook, 0o755);
  const config = join(base, 'config');
  writeFileSync(config, [
    `CA="${env.directoryUrl}"`, `BASEDIR="${base}"`, `WELLKNOWN="${wellKnown}"`, 'CONTACT_EMAIL="dehydrated@wardgate.test"', 'KEY_ALGO=secp384r1',
    // The account key is RSA of KEYSIZE bits (default 4096, seconds to generate): 2048 suffices for a test.
    'KEYSIZE=2048',
  ].join('\n') + '\n');
  const dehydrated = (args: string[]) => run('dehydrated', ['--config', config, ...args], { env: { ...process.env, CURL_CA_BUNDLE: env.rootPem }, timeoutMs: 60_000 });
  const NAME = 'dehydrated.wardgate.test';
  const fullchain = (name: string) => readFileSync(join(base, 'certs', name, 'fullchain.pem'), 'utf8');

  await t.test('register', async (t) => {
    const r = await dehydrated(['--register', '--accept-terms']);
    t.equal(r.code, 0, `dehydrated --register: ${tail(r)}`);
  });

  let first = '';
  await t.test('http-01 through the webroot, P-384 key', async (t) => {
    const r = await dehydrated(['--cron', '--domain', NAME, '--challenge', 'http-01']);
    t.equal(r.code, 0, `dehydrated --cron: ${tail(r)}`);
    first = fullchain(NAME);
    const info = assertIssued(t, env, first, [NAME], 'dehydrated certificate');
    t.same(validatedChallengeTypes(env, info.serial), ['http-01'], 'validated by http-01');
  });

  await t.test('dns-01 through the hook', async (t) => {
    const r = await dehydrated(['--cron', '--domain', 'dehydrated-dns.wardgate.test', '--challenge', 'dns-01', '--hook', hook]);
    t.equal(r.code, 0, `dehydrated --cron -t dns-01: ${tail(r)}`);
    const info = assertIssued(t, env, fullchain('dehydrated-dns.wardgate.test'), ['dehydrated-dns.wardgate.test'], 'dns-01 certificate');
    t.same(validatedChallengeTypes(env, info.serial), ['dns-01'], 'validated by dns-01');
  });

  let renewed = '';
  await t.test('forced renewal', async (t) => {
    const r = await dehydrated(['--cron', '--domain', NAME, '--challenge', 'http-01', '--force']);
    t.equal(r.code, 0, `dehydrated --cron --force: ${tail(r)}`);
    renewed = fullchain(NAME);
    t.not(assertIssued(t, env, renewed, [NAME], 'renewed').serial, assertIssued(t, env, first, [NAME], 'original').serial, 'a new certificate');
  });

  await t.test('revoke', async (t) => {
    const serial = assertIssued(t, env, renewed, [NAME], 'to revoke').serial;
    const r = await dehydrated(['--revoke', join(base, 'certs', NAME, 'cert.pem')]);
    t.equal(r.code, 0, `dehydrated --revoke: ${tail(r)}`);
    t.equal(stored(env, serial)?.status, 'revoked', 'store says revoked');
    const crl = await revokedPerCrl(env, renewed);
    t.ok(crl.revoked, `openssl verify -crl_check with the CA's CRL says revoked: ${crl.output}`);
  });
});
