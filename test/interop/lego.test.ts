/**
 * lego (Go, Debian package) against wardgate: http-01 (RFC 8555 §8.3), tls-alpn-01 (RFC 8737), dns-01
 * (§8.4) through the test DNS server, renewal and revocation (§7.6). lego 4.9 sends IP addresses as
 * `dns` identifiers, so RFC 8738 IP certificates are proven with acme-client (acme-client.test.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { startAcmeEnv } from './fixtures/acme-env.ts';
import { legoDnsExecHook } from './fixtures/hooks.ts';
import { requirePeers, run, skipUnlessPeers, tail } from './fixtures/peers.ts';
import { stored, validatedChallengeTypes } from './fixtures/store-checks.ts';
import { assertIssued, revokedPerCrl } from './fixtures/verify.ts';

const PEERS = ['lego', 'pebble-challtestsrv', 'openssl'];

t.test('lego issues, renews and revokes', { skip: skipUnlessPeers(...PEERS) }, async (t) => {
  if (!requirePeers(t, ...PEERS)) return;
  const env = await startAcmeEnv(t, { server: '127.31.1.1', device: '127.31.1.2' });
  const path = join(env.work, 'lego');
  const lego = (args: string[], extraEnv: Record<string, string> = {}) => run('lego', [
    '--server', env.directoryUrl, '--email', 'lego@wardgate.test', '--accept-tos', '--path', path, ...args,
  ], { env: { ...process.env, LEGO_CA_CERTIFICATES: env.rootPem, ...extraEnv }, timeoutMs: 60_000 });
  const certFile = (name: string) => join(path, 'certificates', `${name}.crt`);
  const http = ['--http', '--http.port', `${env.deviceHost}:${env.http01Port}`];

  let first = '';
  await t.test('http-01', async (t) => {
    const r = await lego(['--domains', 'lego-http.wardgate.test', ...http, 'run']);
    t.equal(r.code, 0, `lego run: ${tail(r)}`);
    first = readFileSync(certFile('lego-http.wardgate.test'), 'utf8');
    const info = assertIssued(t, env, first, ['lego-http.wardgate.test'], 'http-01 certificate');
    t.equal(stored(env, info.serial)?.status, 'valid', 'stored as valid');
    t.same(validatedChallengeTypes(env, info.serial), ['http-01'], 'the order was validated by http-01');
  });

  await t.test('tls-alpn-01, RSA 2048 key', async (t) => {
    const r = await lego(['--domains', 'lego-alpn.wardgate.test', '--key-type', 'rsa2048', '--tls', '--tls.port', `${env.deviceHost}:${env.tlsAlpn01Port}`, 'run']);
    t.equal(r.code, 0, `lego run --tls: ${tail(r)}`);
    const info = assertIssued(t, env, { file: certFile('lego-alpn.wardgate.test') }, ['lego-alpn.wardgate.test'], 'tls-alpn-01 certificate');
    t.equal(info.keyAlgorithm, 'RSASSA-PKCS1-v1_5', 'RSA leaf (verified above via intermediate-rsa.pem)');
    t.same(validatedChallengeTypes(env, info.serial), ['tls-alpn-01'], 'the order was validated by tls-alpn-01');
  });

  await t.test('dns-01 through the test DNS server, two names', async (t) => {
    const hook = legoDnsExecHook(env.work, env.dns.managementUrl);
    const r = await lego(['--domains', 'lego-dns.wardgate.test', '--domains', 'lego-dns2.wardgate.test', '--dns', 'exec',
      '--dns.resolvers', env.dns.resolver, '--dns.disable-cp', 'run'],
    // The exec provider solves names one after the other, by default 60 s apart (EXEC_SEQUENCE_INTERVAL).
    { EXEC_PATH: hook, EXEC_PROPAGATION_TIMEOUT: '20', EXEC_POLLING_INTERVAL: '1', EXEC_SEQUENCE_INTERVAL: '1' });
    t.equal(r.code, 0, `lego run --dns exec: ${tail(r)}`);
    const info = assertIssued(t, env, { file: certFile('lego-dns.wardgate.test') }, ['lego-dns.wardgate.test', 'lego-dns2.wardgate.test'], 'dns-01 certificate');
    t.same(validatedChallengeTypes(env, info.serial), ['dns-01', 'dns-01'], 'both authorizations were validated by dns-01');
  });

  let renewed = '';
  await t.test('renew (forced with --days 999)', async (t) => {
    const r = await lego(['--domains', 'lego-http.wardgate.test', ...http, 'renew', '--days', '999', '--no-random-sleep']);
    t.equal(r.code, 0, `lego renew: ${tail(r)}`);
    renewed = readFileSync(certFile('lego-http.wardgate.test'), 'utf8');
    const before = assertIssued(t, env, first, ['lego-http.wardgate.test'], 'original');
    const after = assertIssued(t, env, renewed, ['lego-http.wardgate.test'], 'renewed certificate');
    t.not(after.serial, before.serial, 'renewal produced a new certificate');
    t.equal(stored(env, after.serial)?.status, 'valid', 'renewed certificate stored');
  });

  await t.test('revoke with reason keyCompromise', async (t) => {
    const serial = assertIssued(t, env, renewed, ['lego-http.wardgate.test'], 'to revoke').serial;
    const r = await lego(['--domains', 'lego-http.wardgate.test', 'revoke', '--reason', '1']);
    t.equal(r.code, 0, `lego revoke: ${tail(r)}`);
    const rec = stored(env, serial);
    t.equal(rec?.status, 'revoked', 'store says revoked');
    t.equal(rec?.revocationReason, 1, 'with reason keyCompromise (RFC 5280 §5.3.1)');
    const crl = await revokedPerCrl(env, renewed);
    t.ok(crl.revoked, `openssl verify -crl_check with the CA's CRL says revoked: ${crl.output}`);
    const other = await revokedPerCrl(env, first);
    t.notOk(other.revoked, `the earlier certificate for the same name stays good: ${other.output}`);
  });
});
