/**
 * External Account Binding (RFC 8555 §7.3.4) with the real clients, on a server started with
 * externalAccountRequired: each client signs the inner JWS its own way (HS256 over the account JWK), and
 * the names bound to the EAB key limit what the account may order (issue 3 "Name authorization per
 * account": on a flat hospital LAN, http-01 alone would let any host obtain the PACS's name).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { createEabKey } from '../../src/acme/eab.ts';
import { TEST_PASSPHRASE } from '../helpers/ca.ts';
import { wardgate } from '../helpers/cli.ts';
import { startAcmeEnv } from './fixtures/acme-env.ts';
import { uacmeHttpHook } from './fixtures/hooks.ts';
import { requirePeers, run, skipUnlessPeers, tail } from './fixtures/peers.ts';
import { stored } from './fixtures/store-checks.ts';
import { uacmeRunner } from './fixtures/uacme.ts';
import { assertIssued } from './fixtures/verify.ts';
import { startStaticWebServer } from './fixtures/web-server.ts';

const PEERS = ['lego', 'certbot', 'uacme', 'unshare', 'python3', 'pebble-challtestsrv', 'openssl'];

t.test('EAB-bound accounts with lego, certbot and uacme', { skip: skipUnlessPeers(...PEERS) }, async (t) => {
  if (!requirePeers(t, ...PEERS)) return;
  const env = await startAcmeEnv(t, { server: '127.31.7.1', device: '127.31.7.2' }, { externalAccountRequired: true });
  const accountOf = (kid: string) => env.ca.store.acme.getEabKey(kid)?.accountId;

  await t.test('lego: refused without EAB, then bound with a key from `wardgate eab create`', async (t) => {
    const path = join(env.work, 'lego');
    const lego = (args: string[]) => run('lego', ['--server', env.directoryUrl, '--email', 'eab@wardgate.test', '--accept-tos', '--path', path,
      '--http', '--http.port', `${env.deviceHost}:${env.http01Port}`, ...args], { env: { ...process.env, LEGO_CA_CERTIFICATES: env.rootPem } });
    const none = await lego(['--domains', 'pacs.rad.wardgate.test', 'run']);
    t.not(none.code, 0, 'lego without EAB fails');
    t.match(none.stdout + none.stderr, /requires External Account Binding/, `lego read meta.externalAccountRequired from the directory: ${tail(none, 1)}`);

    const created = wardgate(['eab', 'create', '-d', env.dir, '--label', 'PACS', '--allow-dns', 'pacs.rad.wardgate.test', '--json'], { WARDGATE_CA_PASSPHRASE: TEST_PASSPHRASE });
    t.equal(created.status, 0, `wardgate eab create: ${created.stderr}`);
    const key = JSON.parse(created.stdout) as { kid: string; hmacKey: string };
    const eab = ['--eab', '--kid', key.kid, '--hmac', key.hmacKey];
    const ok = await lego([...eab, '--domains', 'pacs.rad.wardgate.test', 'run']);
    t.equal(ok.code, 0, `lego --eab run for the bound name: ${tail(ok)}`);
    const info = assertIssued(t, env, { file: join(path, 'certificates', 'pacs.rad.wardgate.test.crt') }, ['pacs.rad.wardgate.test'], 'EAB lego certificate');
    t.ok(accountOf(key.kid), 'the EAB key is now bound to an account');
    t.equal(stored(env, info.serial)?.accountId, accountOf(key.kid), 'the certificate belongs to that account');

    const other = await lego([...eab, '--domains', 'ct1.rad.wardgate.test', 'run']);
    t.not(other.code, 0, 'the same account cannot order a name outside its binding');
    t.match(other.stdout + other.stderr, /rejectedIdentifier|unauthorized/, `refused with a problem document: ${tail(other, 2)}`);
    t.match(other.stdout + other.stderr, /ct1\.rad\.wardgate\.test/, 'naming the refused identifier');
  });

  await t.test('certbot: --eab-kid/--eab-hmac-key with a suffix binding', async (t) => {
    const key = createEabKey(env.ca.store.acme, env.ca.meta.policy, { label: 'CT scanners', allowDns: ['.ct.wardgate.test'] });
    const dirs = ['--config-dir', join(env.work, 'certbot', 'c'), '--work-dir', join(env.work, 'certbot', 'w'), '--logs-dir', join(env.work, 'certbot', 'l')];
    const r = await run('certbot', ['certonly', '--standalone', '--http-01-port', String(env.http01Port), '--http-01-address', env.deviceHost,
      '--server', env.directoryUrl, '--agree-tos', '-m', 'ct@wardgate.test', `--eab-kid=${key.kid}`, `--eab-hmac-key=${key.hmacKey}`,
      '-d', 'scanner1.ct.wardgate.test', ...dirs, '--non-interactive'], { env: { ...process.env, REQUESTS_CA_BUNDLE: env.rootPem }, timeoutMs: 90_000 });
    t.equal(r.code, 0, `certbot certonly with EAB: ${tail(r)}`);
    const pem = readFileSync(join(env.work, 'certbot', 'c', 'live', 'scanner1.ct.wardgate.test', 'fullchain.pem'), 'utf8');
    const info = assertIssued(t, env, pem, ['scanner1.ct.wardgate.test'], 'EAB certbot certificate');
    t.equal(stored(env, info.serial)?.accountId, accountOf(key.kid), 'issued to the account bound to the key');
  });

  await t.test('uacme: -e KEYID:KEY, and an unknown key is refused', async (t) => {
    const key = createEabKey(env.ca.store.acme, env.ca.meta.policy, { label: 'HL7 engine', allowDns: ['hl7.wardgate.test'] });
    const conf = join(env.work, 'uacme');
    const webroot = join(env.work, 'www');
    mkdirSync(webroot);
    const hook = uacmeHttpHook(env.work, webroot);
    await startStaticWebServer(t, env.deviceHost, env.http01Port, webroot);
    const uacme = uacmeRunner(env.rootPem, conf, env.directoryUrl);
    const without = await uacme(['-y', 'new']);
    t.not(without.code, 0, 'uacme without EAB stops');
    t.match(without.stderr, /requires external credentials/, `it read meta.externalAccountRequired: ${tail(without, 1)}`);
    const bogus = await uacme(['-y', '-e', `kid-unknown:${key.hmacKey}`, 'new']);
    t.not(bogus.code, 0, 'an unknown EAB key id is refused');
    t.match(bogus.stderr, /unauthorized|malformed|externalAccount/i, `with a problem document: ${tail(bogus, 2)}`);
    const created = await uacme(['-y', '-e', `${key.kid}:${key.hmacKey}`, 'new']);
    t.equal(created.code, 0, `uacme new with EAB: ${tail(created)}`);
    const r = await uacme(['-t', 'EC', '-h', hook, 'issue', 'hl7.wardgate.test']);
    t.equal(r.code, 0, `uacme issue: ${tail(r)}`);
    const info = assertIssued(t, env, { file: join(conf, 'hl7.wardgate.test', 'cert.pem') }, ['hl7.wardgate.test'], 'EAB uacme certificate');
    t.equal(stored(env, info.serial)?.accountId, accountOf(key.kid), 'issued to the account bound to the key');
  });
});
