/**
 * certbot (Python, Debian package) in standalone mode: it runs its own http-01 responder (RFC 8555 §8.3)
 * on the device address, issues, renews (--force-renewal) and revokes with a reason (§7.6).
 * REQUESTS_CA_BUNDLE makes it trust DIR/ca/root.pem, as an admin would configure it.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { startAcmeEnv } from './fixtures/acme-env.ts';
import { requirePeers, run, skipUnlessPeers, tail } from './fixtures/peers.ts';
import { stored, validatedChallengeTypes } from './fixtures/store-checks.ts';
import { assertIssued, revokedPerCrl } from './fixtures/verify.ts';

const PEERS = ['certbot', 'pebble-challtestsrv', 'openssl'];
const NAME = 'certbot.wardgate.test';

t.test('certbot standalone issues, renews and revokes', { skip: skipUnlessPeers(...PEERS) }, async (t) => {
  if (!requirePeers(t, ...PEERS)) return;
  const env = await startAcmeEnv(t, { server: '127.31.2.1', device: '127.31.2.2' });
  const dirs = ['--config-dir', join(env.work, 'certbot', 'config'), '--work-dir', join(env.work, 'certbot', 'work'), '--logs-dir', join(env.work, 'certbot', 'logs')];
  const certbot = (args: string[]) => run('certbot', [...args, ...dirs, '--non-interactive'], {
    env: { ...process.env, REQUESTS_CA_BUNDLE: env.rootPem }, timeoutMs: 90_000,
  });
  const live = join(env.work, 'certbot', 'config', 'live', NAME);
  // live/ holds symlinks to the current archive/ version; read through them as a web server would.
  const current = (file: string) => readFileSync(realpathSync(join(live, file)), 'utf8');

  let first = '';
  await t.test('certonly --standalone (http-01)', async (t) => {
    const r = await certbot(['certonly', '--standalone', '--http-01-port', String(env.http01Port), '--http-01-address', env.deviceHost,
      '--server', env.directoryUrl, '--agree-tos', '-m', 'certbot@wardgate.test', '-d', NAME]);
    t.equal(r.code, 0, `certbot certonly: ${tail(r)}`);
    first = current('fullchain.pem');
    const info = assertIssued(t, env, first, [NAME], 'certbot certificate');
    t.equal(stored(env, info.serial)?.status, 'valid', 'stored as valid');
    t.same(validatedChallengeTypes(env, info.serial), ['http-01'], 'validated by http-01');
  });

  let renewed = '';
  await t.test('renew --force-renewal', async (t) => {
    const r = await certbot(['renew', '--force-renewal', '--no-random-sleep-on-renew']);
    t.equal(r.code, 0, `certbot renew: ${tail(r)}`);
    renewed = current('fullchain.pem');
    const before = assertIssued(t, env, first, [NAME], 'original');
    const after = assertIssued(t, env, renewed, [NAME], 'renewed certificate');
    t.not(after.serial, before.serial, 'renewal produced a new certificate');
    t.equal(stored(env, after.serial)?.status, 'valid', 'renewed certificate stored');
  });

  await t.test('revoke --reason keycompromise', async (t) => {
    const serial = assertIssued(t, env, renewed, [NAME], 'to revoke').serial;
    const r = await certbot(['revoke', '--cert-path', join(live, 'cert.pem'), '--reason', 'keycompromise',
      '--server', env.directoryUrl, '--no-delete-after-revoke']);
    t.equal(r.code, 0, `certbot revoke: ${tail(r)}`);
    const rec = stored(env, serial);
    t.equal(rec?.status, 'revoked', 'store says revoked');
    t.equal(rec?.revocationReason, 1, 'reason keyCompromise (RFC 5280 §5.3.1 code 1)');
    const crl = await revokedPerCrl(env, renewed);
    t.ok(crl.revoked, `openssl verify -crl_check with the CA's CRL says revoked: ${crl.output}`);
  });

  await t.test('update_account and unregister (RFC 8555 §7.3.2, §7.3.6)', async (t) => {
    const accountId = stored(env, assertIssued(t, env, renewed, [NAME], 'account of').serial)!.accountId!;
    const update = await certbot(['update_account', '-m', 'radiology-it@wardgate.test', '--server', env.directoryUrl]);
    t.equal(update.code, 0, `certbot update_account: ${tail(update)}`);
    t.same(env.ca.store.acme.getAccount(accountId)?.contact, ['mailto:radiology-it@wardgate.test'], 'contact updated');
    const off = await certbot(['unregister', '--server', env.directoryUrl]);
    t.equal(off.code, 0, `certbot unregister: ${tail(off)}`);
    t.equal(env.ca.store.acme.getAccount(accountId)?.status, 'deactivated', 'account deactivated');
  });
});
