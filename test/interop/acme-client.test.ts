/**
 * The npm acme-client (the library wardgate's own gateway uses) against a real wardgate server over HTTPS:
 * register, ECDSA and RSA leaves over http-01 (each chaining via its own intermediate), renewal as a
 * second order, revocation with a reason (RFC 8555 §7.6), and RFC 8738 IP identifiers with http-01 and
 * tls-alpn-01 (whose SNI must be the reverse-DNS name, RFC 8738 §6). acme-client's auto() only orders
 * `dns` identifiers, so the IP orders use its step-by-step API.
 */
import { spawnSync } from 'node:child_process';
import https from 'node:https';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import acme from 'acme-client';
import t from 'tap';
import { startAcmeEnv, type AcmeEnv } from './fixtures/acme-env.ts';
import { startHttp01Responder, type Http01Responder } from './fixtures/http01-responder.ts';
import { requirePeers, skipUnlessPeers } from './fixtures/peers.ts';
import { stored, validatedChallengeTypes } from './fixtures/store-checks.ts';
import { assertIssued, revokedPerCrl } from './fixtures/verify.ts';

const PEERS = ['pebble-challtestsrv', 'openssl'];

/** auto() with http-01 served by `web`; acme-client's own pre-check is skipped (it would ask the system DNS). */
function issueHttp01(client: acme.Client, web: Http01Responder, csr: Buffer): Promise<string> {
  return client.auto({
    csr, termsOfServiceAgreed: true, challengePriority: ['http-01'], skipChallengeVerification: true,
    challengeCreateFn: async (_authz, challenge, keyAuthorization) => web.set(challenge.token, keyAuthorization),
    challengeRemoveFn: async (_authz, challenge) => web.delete(challenge.token),
  });
}

/** Step-by-step order for one IP identifier, answering with `answer` (RFC 8738 §3: type "ip"). */
async function issueIp(client: acme.Client, env: AcmeEnv, ip: string, type: 'http-01' | 'tls-alpn-01', answer: (challenge: { token: string }, keyAuthorization: string, authz: acme.Authorization) => Promise<void>) {
  const order = await client.createOrder({ identifiers: [{ type: 'ip', value: ip }] });
  const [authz] = await client.getAuthorizations(order);
  const offered = authz.challenges.map((c) => c.type).sort();
  const challenge = authz.challenges.find((c) => c.type === type)!;
  await answer(challenge, await client.getChallengeKeyAuthorization(challenge), authz);
  await client.completeChallenge(challenge);
  await client.waitForValidStatus(challenge);
  const [, csr] = await acme.crypto.createCsr({ altNames: [ip] }, await acme.crypto.createPrivateEcdsaKey('P-256'));
  const finalized = await client.finalizeOrder(order, csr);
  const valid = await client.waitForValidStatus(finalized);
  return { offered, cert: await client.getCertificate(valid), env };
}

t.test('acme-client registers, issues, renews and revokes', { skip: skipUnlessPeers(...PEERS) }, async (t) => {
  if (!requirePeers(t, ...PEERS)) return;
  const env = await startAcmeEnv(t, { server: '127.31.4.1', device: '127.31.4.2' });
  const web = await startHttp01Responder(t, env.deviceHost, env.http01Port);
  // acme-client talks through its own axios instance: trust exactly the CA's root, nothing else.
  acme.axios.defaults.httpsAgent = new https.Agent({ ca: env.ca.rootPem });
  const client = new acme.Client({ directoryUrl: env.directoryUrl, accountKey: await acme.crypto.createPrivateEcdsaKey('P-256'), backoffMin: 100, backoffMax: 1000 });

  await t.test('register an account', async (t) => {
    const account = await client.createAccount({ termsOfServiceAgreed: true, contact: ['mailto:acme-client@wardgate.test'] });
    t.equal(account.status, 'valid', 'account is valid');
    const url = client.getAccountUrl();
    t.match(url, new RegExp(`^${env.directoryUrl.replace('/directory', '')}/acct/`), 'account URL on the server');
    const id = url.split('/').pop()!;
    t.same(env.ca.store.acme.getAccount(id)?.contact, ['mailto:acme-client@wardgate.test'], 'contact stored');
  });

  let ecdsa = '';
  await t.test('ECDSA P-256 leaf over http-01', async (t) => {
    const [, csr] = await acme.crypto.createCsr({ altNames: ['ac-ec.wardgate.test'] }, await acme.crypto.createPrivateEcdsaKey('P-256'));
    ecdsa = await issueHttp01(client, web, csr);
    const info = assertIssued(t, env, ecdsa, ['ac-ec.wardgate.test'], 'ECDSA leaf');
    t.equal(info.keyAlgorithm, 'ECDSA', 'ECDSA key');
    t.equal(stored(env, info.serial)?.issuerId, env.ca.activeIssuerInfo('ecdsa').id, 'signed by the ECDSA intermediate');
    t.same(validatedChallengeTypes(env, info.serial), ['http-01'], 'validated by http-01');
    t.ok(web.requests.some((r) => /^ac-ec\.wardgate\.test:\d+ \/\.well-known\/acme-challenge\//.test(r)), 'the CA fetched the token from the device address');
  });

  await t.test('RSA 2048 leaf chains via the RSA intermediate', async (t) => {
    const [, csr] = await acme.crypto.createCsr({ altNames: ['ac-rsa.wardgate.test'] }, await acme.crypto.createPrivateRsaKey(2048));
    const rsa = await issueHttp01(client, web, csr);
    const info = assertIssued(t, env, rsa, ['ac-rsa.wardgate.test'], 'RSA leaf');
    t.equal(info.keyAlgorithm, 'RSASSA-PKCS1-v1_5', 'RSA key');
    t.equal(stored(env, info.serial)?.issuerId, env.ca.activeIssuerInfo('rsa').id, 'signed by the RSA intermediate');
    // Negative control: the ECDSA intermediate must not be able to complete the chain.
    const leaf = join(env.work, 'rsa-leaf.pem');
    writeFileSync(leaf, rsa);
    const wrong = spawnSync('openssl', ['verify', '-CAfile', env.rootPem, '-untrusted', env.ca.layout.intermediate, leaf], { encoding: 'utf8' });
    t.not(wrong.status, 0, 'does not verify via the ECDSA intermediate');
  });

  let renewed = '';
  await t.test('renew: a new order for the same name', async (t) => {
    const [, csr] = await acme.crypto.createCsr({ altNames: ['ac-ec.wardgate.test'] }, await acme.crypto.createPrivateEcdsaKey('P-384'));
    renewed = await issueHttp01(client, web, csr);
    const before = assertIssued(t, env, ecdsa, ['ac-ec.wardgate.test'], 'original');
    const after = assertIssued(t, env, renewed, ['ac-ec.wardgate.test'], 'renewed (P-384 key)');
    t.not(after.serial, before.serial, 'a new certificate');
    t.equal(stored(env, before.serial)?.status, 'valid', 'the old one stays valid until revoked');
  });

  await t.test('revoke with reason superseded', async (t) => {
    const serial = assertIssued(t, env, ecdsa, ['ac-ec.wardgate.test'], 'to revoke').serial;
    await client.revokeCertificate(ecdsa, { reason: 4 });
    t.equal(stored(env, serial)?.status, 'revoked', 'store says revoked');
    t.equal(stored(env, serial)?.revocationReason, 4, 'reason superseded (RFC 5280 §5.3.1 code 4)');
    const crl = await revokedPerCrl(env, ecdsa);
    t.ok(crl.revoked, `openssl verify -crl_check with the CA's CRL says revoked: ${crl.output}`);
    const other = await revokedPerCrl(env, renewed);
    t.notOk(other.revoked, `the renewed certificate stays good: ${other.output}`);
    try {
      await client.revokeCertificate(ecdsa, { reason: 4 });
      t.fail('revoking twice succeeded');
    } catch (err) {
      t.match((err as Error).message, /already revoked/i, `second revocation refused (RFC 8555 §7.6 alreadyRevoked): ${(err as Error).message}`);
    }
  });

  await t.test('IP identifier over http-01 (RFC 8738)', async (t) => {
    const ip = env.deviceHost;
    const { offered, cert } = await issueIp(client, env, ip, 'http-01', async (challenge, keyAuthorization) => web.set(challenge.token, keyAuthorization));
    t.notOk(offered.includes('dns-01'), `no dns-01 for an IP identifier (RFC 8738 §7): offered ${offered.join(', ')}`);
    const info = assertIssued(t, env, cert, [ip], 'IP certificate');
    t.same(stored(env, info.serial)?.names, [ip], 'stored with the IP name');
    t.ok(web.requests.some((r) => r.startsWith(`${ip}:${env.http01Port} /.well-known/acme-challenge/`)), 'the CA connected to the IP itself');
  });

  await t.test('IP identifier over tls-alpn-01: SNI is the reverse-DNS name (RFC 8738 §6)', async (t) => {
    const ip = '127.31.4.3';
    const sni: string[] = [];
    let alpn: tls.Server | undefined;
    t.teardown(() => { alpn?.close(); });
    const { cert } = await issueIp(client, env, ip, 'tls-alpn-01', async (_challenge, keyAuthorization, authz) => {
      const [key, alpnCert] = await acme.crypto.createAlpnCertificate(authz, keyAuthorization, await acme.crypto.createPrivateEcdsaKey('P-256'));
      alpn = tls.createServer({ key, cert: alpnCert, ALPNProtocols: ['acme-tls/1'], SNICallback: (name, cb) => { sni.push(name); cb(null, undefined); } });
      await new Promise<void>((resolve) => alpn!.listen(env.tlsAlpn01Port, ip, () => resolve()));
    });
    assertIssued(t, env, cert, [ip], 'IP certificate via tls-alpn-01');
    t.ok(sni.length > 0 && sni.every((n) => n === '3.4.31.127.in-addr.arpa'), `SNI was the reverse-DNS name: ${sni.join(', ')}`);
  });
});
