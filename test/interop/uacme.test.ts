/**
 * uacme (C, libcurl + GnuTLS, Debian package) with a hook script for http-01 (RFC 8555 §8.3): new account,
 * issue, forced renewal, and revocation both ways RFC 8555 §7.6 allows (account key, certificate key).
 * How uacme is made to trust DIR/ca/root.pem: see fixtures/uacme.ts.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { startAcmeEnv } from './fixtures/acme-env.ts';
import { uacmeHttpHook } from './fixtures/hooks.ts';
import { requirePeers, skipUnlessPeers, tail } from './fixtures/peers.ts';
import { stored, validatedChallengeTypes } from './fixtures/store-checks.ts';
import { uacmeRunner } from './fixtures/uacme.ts';
import { assertIssued, revokedPerCrl } from './fixtures/verify.ts';
import { startStaticWebServer } from './fixtures/web-server.ts';

const PEERS = ['uacme', 'unshare', 'python3', 'pebble-challtestsrv', 'openssl'];
const NAME = 'uacme.wardgate.test';

t.test('uacme issues, renews and revokes with a hook script', { skip: skipUnlessPeers(...PEERS) }, async (t) => {
  if (!requirePeers(t, ...PEERS)) return;
  const env = await startAcmeEnv(t, { server: '127.31.3.1', device: '127.31.3.2' });
  const conf = join(env.work, 'uacme');
  const webroot = join(env.work, 'www');
  mkdirSync(webroot);
  const hook = uacmeHttpHook(env.work, webroot);
  await startStaticWebServer(t, env.deviceHost, env.http01Port, webroot);
  const uacme = uacmeRunner(env.rootPem, conf, env.directoryUrl);
  const certPath = join(conf, NAME, 'cert.pem');
  const keyPath = join(conf, 'private', NAME, 'key.pem');

  await t.test('new account', async (t) => {
    const r = await uacme(['-y', 'new', 'uacme@wardgate.test']);
    t.equal(r.code, 0, `uacme new: ${tail(r)}`);
    t.ok(existsSync(join(conf, 'private', 'key.pem')), 'account key written');
    t.match(r.stderr, /account created at https:\/\/127\.31\.3\.1:\d+\/acme\/acct\//, 'server created the account (RSA account key: RS256 JWS)');
  });

  let first = '';
  await t.test('issue (http-01 through the hook)', async (t) => {
    const r = await uacme(['-t', 'EC', '-h', hook, 'issue', NAME]);
    t.equal(r.code, 0, `uacme issue: ${tail(r)}`);
    t.match(r.stderr, /challenge dns-01 declined/, 'the hook declined dns-01 ...');
    t.match(r.stderr, /running .* done http-01/, '... and completed http-01');
    first = readFileSync(certPath, 'utf8');
    const info = assertIssued(t, env, first, [NAME], 'uacme certificate');
    t.equal(stored(env, info.serial)?.status, 'valid', 'stored as valid');
    t.same(validatedChallengeTypes(env, info.serial), ['http-01'], 'validated by http-01');
    t.same(readdirSync(join(webroot, '.well-known', 'acme-challenge')), [], 'the hook cleaned the webroot after validation');
  });

  let renewed = '';
  await t.test('renew: refused while current, forced with -f', async (t) => {
    const current = await uacme(['-h', hook, 'issue', NAME]);
    t.equal(current.code, 1, `without -f uacme keeps a certificate valid for more than 30 days (exit 1): ${tail(current, 3)}`);
    const r = await uacme(['-f', '-h', hook, 'issue', NAME]);
    t.equal(r.code, 0, `uacme -f issue: ${tail(r)}`);
    renewed = readFileSync(certPath, 'utf8');
    const before = assertIssued(t, env, first, [NAME], 'original');
    const after = assertIssued(t, env, renewed, [NAME], 'renewed certificate');
    t.not(after.serial, before.serial, 'renewal produced a new certificate');
  });

  await t.test('revoke: old certificate with the account key, current one with the certificate key', async (t) => {
    const old = readdirSync(join(conf, NAME)).find((f) => /^cert-\d+\.pem$/.test(f));
    t.ok(old, 'uacme kept the replaced certificate as cert-TIMESTAMP.pem');
    if (!old) return;
    const oldSerial = assertIssued(t, env, first, [NAME], 'old').serial;
    const byAccount = await uacme(['-r', '4', 'revoke', join(conf, NAME, old)]);
    t.equal(byAccount.code, 0, `uacme revoke (account key): ${tail(byAccount)}`);
    t.equal(stored(env, oldSerial)?.status, 'revoked', 'old certificate revoked');
    t.equal(stored(env, oldSerial)?.revocationReason, 4, 'reason superseded (4)');

    const currentSerial = assertIssued(t, env, renewed, [NAME], 'current').serial;
    const byCertKey = await uacme(['-r', '5', 'revoke', certPath, keyPath]);
    t.equal(byCertKey.code, 0, `uacme revoke (certificate key, JWS with "jwk"): ${tail(byCertKey)}`);
    t.equal(stored(env, currentSerial)?.status, 'revoked', 'current certificate revoked');
    t.equal(stored(env, currentSerial)?.revocationReason, 5, 'reason cessationOfOperation (5)');
    for (const [label, pem] of [['old', first], ['current', renewed]]) {
      const crl = await revokedPerCrl(env, pem);
      t.ok(crl.revoked, `${label}: openssl verify -crl_check with the CA's CRL says revoked: ${crl.output}`);
    }
  });

  await t.test('account: update contact, roll the key (keyChange), deactivate', async (t) => {
    const accountId = stored(env, assertIssued(t, env, renewed, [NAME], 'account of').serial)!.accountId!;
    const update = await uacme(['update', 'ops@wardgate.test']);
    t.equal(update.code, 0, `uacme update: ${tail(update)}`);
    t.same(env.ca.store.acme.getAccount(accountId)?.contact, ['mailto:ops@wardgate.test'], 'contact replaced (RFC 8555 §7.3.2)');

    const before = env.ca.store.acme.getAccount(accountId)!.thumbprint;
    const roll = await uacme(['newkey']);
    t.equal(roll.code, 0, `uacme newkey: ${tail(roll)}`);
    const after = env.ca.store.acme.getAccount(accountId)!.thumbprint;
    t.not(after, before, 'the account now has the new key (RFC 8555 §7.3.5), same account URL');
    const issued = await uacme(['-f', '-h', hook, 'issue', NAME]);
    t.equal(issued.code, 0, `issuing with the rolled key works: ${tail(issued)}`);
    const info = assertIssued(t, env, readFileSync(certPath, 'utf8'), [NAME], 'after key rollover');
    t.equal(stored(env, info.serial)?.accountId, accountId, 'issued to the same account');

    const off = await uacme(['-y', 'deactivate']);
    t.equal(off.code, 0, `uacme deactivate: ${tail(off)}`);
    t.equal(env.ca.store.acme.getAccount(accountId)?.status, 'deactivated', 'account deactivated (RFC 8555 §7.3.6)');
    const refused = await uacme(['-f', '-h', hook, 'issue', NAME]);
    t.not(refused.code, 0, 'a deactivated account cannot order');
    t.match(refused.stderr, /unauthorized|deactivated/i, `refused with a problem document: ${tail(refused, 2)}`);
  });
});
