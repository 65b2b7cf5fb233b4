/**
 * TLS profiles: the shipped files load and follow PS3.15 Annex B / BCP 195, broken files are refused
 * with the file and field named, and a real openssl s_client sees exactly what the profile allows:
 * nothing below TLS 1.2, ECDSA and RSA certificates side by side, TLS_RSA_* only with bcp195-legacy.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { isWardgateError } from '../../src/errors.ts';
import { DEFAULT_TLS_PROFILES_DIR, getTlsProfile, loadTlsProfiles, parseTlsProfile, toTlsOptions } from '../../src/proxy/tls-profile.ts';
import { tempDir } from '../helpers/tmp.ts';
import { freeLoopbackPort, peerOption, run, sentinel, startGateway } from './fixtures/peers.ts';
import { proxyPki } from './fixtures/pki.ts';

type T = Parameters<Parameters<typeof t.test>[0]>[0];

function configError(t: T, fn: () => unknown, pattern: RegExp, label: string): void {
  try {
    fn();
    t.fail(`${label}: accepted`);
  } catch (err) {
    t.ok(isWardgateError(err, 'CONFIG_INVALID') || isWardgateError(err, 'TLS_PROFILE_UNKNOWN'), `${label}: typed error`);
    t.match((err as Error).message, pattern, `${label}: ${(err as Error).message}`);
  }
}

t.test('shipped profiles', async (t) => {
  const all = loadTlsProfiles();
  t.same([...all.keys()].sort(), ['bcp195-legacy', 'bcp195-non-downgrading']);
  const nd = getTlsProfile();
  t.equal(nd.name, 'bcp195-non-downgrading', 'the default');
  t.equal(nd.minVersion, 'TLSv1.2');
  t.equal(nd.maxVersion, 'TLSv1.3');
  for (const atna of ['TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384', 'TLS_DHE_RSA_WITH_AES_128_GCM_SHA256', 'TLS_DHE_RSA_WITH_AES_256_GCM_SHA384']) {
    t.ok(nd.cipherSuites.includes(atna), `IHE ATNA suite ${atna} is in the default`);
  }
  t.notOk(nd.cipherSuites.some((s) => s.startsWith('TLS_RSA_')), 'no static-RSA key transport in the default');
  const legacy = getTlsProfile('bcp195-legacy');
  t.equal(legacy.minVersion, 'TLSv1.2', 'legacy still TLS 1.2 at least');
  t.ok(legacy.cipherSuites.includes('TLS_RSA_WITH_AES_128_GCM_SHA256') && legacy.cipherSuites.includes('TLS_RSA_WITH_AES_256_GCM_SHA384'), 'legacy adds TLS_RSA_* AES-GCM');
  t.match(toTlsOptions(nd).ciphers!, /^TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:ECDHE-ECDSA-AES128-GCM-SHA256/, 'OpenSSL names in preference order');
  configError(t, () => getTlsProfile('tls10-please'), /unknown TLS profile "tls10-please"/, 'unknown name');
});

t.test('broken profile files name the file and field', async (t) => {
  const dir = tempDir(t);
  const good = JSON.parse(readFileSync(join(DEFAULT_TLS_PROFILES_DIR, 'bcp195-non-downgrading.json'), 'utf8'));
  const cases: Array<[string, object, RegExp]> = [
    ['tls11', { ...good, name: 'tls11', minVersion: 'TLSv1.1' }, /tls11\.json: field "minVersion" must be one of "TLSv1\.2", "TLSv1\.3"/],
    ['rc4', { ...good, name: 'rc4', cipherSuites: ['TLS_RSA_WITH_RC4_128_SHA'] }, /rc4\.json: field "cipherSuites\.0" must be one of/],
    ['extra', { ...good, name: 'extra', sslv3: true }, /extra\.json: field "sslv3" is not a known field/],
    ['nogroups', { ...good, name: 'nogroups', groups: undefined }, /nogroups\.json: field "groups" is required/],
    ['only13', { ...good, name: 'only13', cipherSuites: ['TLS_AES_128_GCM_SHA256'] }, /only13\.json: field "cipherSuites" allows TLS 1\.2 but lists no TLS 1\.2 suite/],
    ['misnamed', { ...good, name: 'other' }, /misnamed\.json: field "name" is "other"/],
  ];
  for (const [file, body, pattern] of cases) {
    const path = join(dir, `${file}.json`);
    writeFileSync(path, JSON.stringify(body));
    configError(t, () => parseTlsProfile(path, readFileSync(path, 'utf8')), pattern, file);
  }
  configError(t, () => parseTlsProfile('x.json', '{ nope'), /x\.json: not valid JSON/, 'not JSON');
  configError(t, () => toTlsOptions({ ...getTlsProfile(), minVersion: 'TLSv1.1' as 'TLSv1.2' }), /below TLS 1\.2/, 'hand-built object below TLS 1.2');
});

/** openssl s_client against the in-process gateway (spawned asynchronously: the gateway shares our event loop). */
async function sClient(port: number, args: string[]): Promise<string> {
  return (await run('openssl', ['s_client', '-connect', `127.30.2.1:${port}`, '-brief', ...args], 10_000)).output;
}

t.test('what a real TLS client can negotiate', peerOption('openssl'), async (t) => {
  const pki = await proxyPki(t);
  const ec = await pki.issue('gw-ec', ['127.30.2.1'], 'ecdsa-p256');
  const rsa = await pki.issue('gw-rsa', ['127.30.2.1'], 'rsa-2048');
  const backend = await sentinel(t);
  const port = await freeLoopbackPort();
  const legacyPort = await freeLoopbackPort();
  const route = (name: string, p: number, profile: string) => ({ name, direction: 'inbound', protocol: 'dicom', listen: `127.30.2.1:${p}`, upstream: `127.0.0.1:${backend.port}`, tls: { cert: [ec.cert, rsa.cert], key: [ec.key, rsa.key], ca: pki.trust, clientAuth: 'none', profile } });
  await startGateway(t, { routes: [route('nd', port, 'bcp195-non-downgrading'), route('legacy', legacyPort, 'bcp195-legacy')] });

  t.match(await sClient(port, ['-tls1_1', '-cipher', 'DEFAULT:@SECLEVEL=0']), /alert protocol version|no protocols available|unsupported protocol|wrong version/i, 'TLS 1.1 refused');
  t.match(await sClient(port, ['-tls1_3']), /Protocol version: TLSv1\.3/, 'TLS 1.3 accepted');
  const ecdsa12 = await sClient(port, ['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-GCM-SHA256']);
  t.match(ecdsa12, /Ciphersuite: ECDHE-ECDSA-AES128-GCM-SHA256/, 'TLS 1.2 ECDSA client gets the ECDSA certificate');
  const rsaOnly = await sClient(port, ['-tls1_2', '-cipher', 'ECDHE-RSA-AES256-GCM-SHA384', '-sigalgs', 'RSA+SHA256:RSA+SHA384']);
  t.match(rsaOnly, /Ciphersuite: ECDHE-RSA-AES256-GCM-SHA384/, 'RSA-only TLS 1.2 client connects with the RSA certificate');
  t.match(rsaOnly, /Signature type: RSA/i, 'signed by the RSA key');
  t.match(rsaOnly, /RSA Issuing CA/, 'and the RSA chain is served');
  t.match(await sClient(port, ['-tls1_2', '-cipher', 'DHE-RSA-AES128-GCM-SHA256']), /Ciphersuite: DHE-RSA-AES128-GCM-SHA256/, 'IHE ATNA DHE-RSA suite negotiable');
  t.match(await sClient(port, ['-tls1_2', '-cipher', 'AES128-GCM-SHA256']), /handshake failure|no shared cipher|alert/i, 'TLS_RSA_WITH_AES_128_GCM_SHA256 refused by the default profile');
  t.match(await sClient(port, ['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-SHA256']), /handshake failure|no shared cipher|alert/i, 'CBC suite refused');
  t.match(await sClient(legacyPort, ['-tls1_2', '-cipher', 'AES128-GCM-SHA256']), /Ciphersuite: AES128-GCM-SHA256/, 'bcp195-legacy accepts TLS_RSA_WITH_AES_128_GCM_SHA256');
  t.match(await sClient(legacyPort, ['-tls1_1', '-cipher', 'DEFAULT:@SECLEVEL=0']), /alert protocol version|no protocols available|unsupported protocol|wrong version/i, 'bcp195-legacy still refuses TLS 1.1');
  t.equal(backend.connections(), 0, 'nothing reached the backend (no association was sent)');
});

t.test('clientAuth optional: no certificate is fine, an untrusted one is not', peerOption('openssl'), async (t) => {
  const pki = await proxyPki(t);
  const gw = await pki.issue('gw', ['127.30.2.1']);
  const foreign = await pki.foreign('foreign', ['x.klinikum.internal']);
  const backend = await sentinel(t);
  const port = await freeLoopbackPort();
  const gateway = await startGateway(t, { routes: [{ name: 'opt', direction: 'inbound', protocol: 'dicom', listen: `127.30.2.1:${port}`, upstream: `127.0.0.1:${backend.port}`, tls: { cert: [gw.cert], key: [gw.key], ca: pki.trust, clientAuth: 'optional' } }] });
  const anonymous = await sClient(port, ['-CAfile', pki.trust]);
  t.match(anonymous, /Verification: OK/, 'a client without a certificate completes the handshake');
  t.equal(gateway.metrics.get('wardgate_handshake_failures_total', { route: 'opt' }), 0, 'and is not counted as a failure');
  await sClient(port, ['-CAfile', pki.trust, '-cert', foreign.cert, '-key', foreign.key]);
  t.equal(gateway.metrics.get('wardgate_handshake_failures_total', { route: 'opt' }), 1, 'a certificate from another CA is refused');
  t.equal(backend.connections(), 0, 'nothing reached the backend');
});
