import t from 'tap';
import { keyAuthorizationDigest, resolveValidationOptions, validateChallenge } from '../../../src/acme/challenges/index.ts';
import { tempDir } from '../../helpers/tmp.ts';
import { challTestSrvRequired, startChallTestSrv } from './fixtures/challtestsrv.ts';
import { acmeTlsCert, tarpit, tlsDevice } from './fixtures/device.ts';
import { recordConnects } from '../../helpers/connect-guard.ts';

// Addresses of this file: 127.31.2.0/24.
const TOKEN = 'tok-tlsalpn-0123456789';
const KEYAUTH = `${TOKEN}.thumbprint-abc`;
const acmeIdExt = (keyAuth: string, critical = true) => `1.3.6.1.5.5.7.1.31=${critical ? 'critical,' : ''}DER:0420${keyAuthorizationDigest(keyAuth).toString('hex')}`;

t.test('tls-alpn-01 against pebble-challtestsrv', challTestSrvRequired(), async (t) => {
  const srv = await startChallTestSrv(t, { dns: '127.31.2.1', http: '127.31.2.2', tls: '127.31.2.3' });
  const opts = resolveValidationOptions({ tlsAlpn01Port: srv.tlsAlpn01Port, dnsResolvers: [srv.resolver], timeoutMs: 2000, attempts: 2 });
  await srv.addA('modality.klinikum.internal', [srv.tlsAddress]);
  await srv.addTlsAlpn01('modality.klinikum.internal', KEYAUTH);

  t.test('success', async (t) => {
    const r = await validateChallenge('tls-alpn-01', { type: 'dns', value: 'modality.klinikum.internal' }, TOKEN, KEYAUTH, opts);
    t.same(r, { ok: true, addressUsed: srv.tlsAddress });
  });

  t.test('wrong key authorization: unauthorized with both digests', async (t) => {
    const other = `${TOKEN}.other`;
    const r = await validateChallenge('tls-alpn-01', { type: 'dns', value: 'modality.klinikum.internal' }, TOKEN, other, opts);
    t.match(r, { ok: false, problem: { type: 'unauthorized' } });
    if (!r.ok) {
      t.match(r.problem.detail, keyAuthorizationDigest(KEYAUTH).toString('hex'));
      t.match(r.problem.detail, keyAuthorizationDigest(other).toString('hex'));
      t.match(r.problem.detail, /SNI modality\.klinikum\.internal/);
    }
  });

  t.test('public address refused before connecting', async (t) => {
    await srv.addA('outside.klinikum.internal', ['8.8.8.8']);
    const connects = recordConnects(t);
    const r = await validateChallenge('tls-alpn-01', { type: 'dns', value: 'outside.klinikum.internal' }, TOKEN, KEYAUTH, opts);
    t.match(r, { ok: false, problem: { type: 'rejectedIdentifier', detail: /8\.8\.8\.8/ } });
    t.same(connects, []);
  });
});

t.test('tls-alpn-01 against device fixtures (certificates made by openssl)', async (t) => {
  const dir = tempDir(t);
  const base = resolveValidationOptions({ dnsResolvers: ['127.31.2.250:9'], timeoutMs: 800, attempts: 2 });

  t.test('IP identifier: SNI is the reverse-DNS name, the SAN an iPAddress (RFC 8738 §6)', async (t) => {
    const dev = await tlsDevice(t, '127.31.2.10', acmeTlsCert(dir, 'ip', ['subjectAltName=IP:127.31.2.10', acmeIdExt(KEYAUTH)]));
    const r = await validateChallenge('tls-alpn-01', { type: 'ip', value: '127.31.2.10' }, TOKEN, KEYAUTH, { ...base, tlsAlpn01Port: dev.port });
    t.same(r, { ok: true, addressUsed: '127.31.2.10' });
    t.same(dev.seen, [{ servername: '10.2.31.127.in-addr.arpa', offered: ['acme-tls/1'] }]);
  });

  t.test('IPv6 IP identifier: SNI is the ip6.arpa nibble name', async (t) => {
    const dev = await tlsDevice(t, '::1', acmeTlsCert(dir, 'ip6', ['subjectAltName=IP:::1', acmeIdExt(KEYAUTH)]));
    const r = await validateChallenge('tls-alpn-01', { type: 'ip', value: '::1' }, TOKEN, KEYAUTH, { ...base, tlsAlpn01Port: dev.port });
    t.same(r, { ok: true, addressUsed: '::1' });
    t.same(dev.seen, [{ servername: `1.${'0.'.repeat(31)}ip6.arpa`, offered: ['acme-tls/1'] }]);
  });

  t.test('IP identifier with a dNSName SAN instead of iPAddress: incorrectResponse', async (t) => {
    const dev = await tlsDevice(t, '127.31.2.11', acmeTlsCert(dir, 'ipdns', ['subjectAltName=DNS:11.2.31.127.in-addr.arpa', acmeIdExt(KEYAUTH)]));
    const r = await validateChallenge('tls-alpn-01', { type: 'ip', value: '127.31.2.11' }, TOKEN, KEYAUTH, { ...base, tlsAlpn01Port: dev.port });
    t.match(r, { ok: false, problem: { type: 'incorrectResponse', detail: /\[dns:11\.2\.31\.127\.in-addr\.arpa\].*exactly one iPAddress 127\.31\.2\.11/ } });
  });

  t.test('two SANs: incorrectResponse', async (t) => {
    const dev = await tlsDevice(t, '127.31.2.12', acmeTlsCert(dir, 'two', ['subjectAltName=IP:127.31.2.12,DNS:extra.klinikum.internal', acmeIdExt(KEYAUTH)]));
    const r = await validateChallenge('tls-alpn-01', { type: 'ip', value: '127.31.2.12' }, TOKEN, KEYAUTH, { ...base, tlsAlpn01Port: dev.port });
    t.match(r, { ok: false, problem: { type: 'incorrectResponse', detail: /ip:127\.31\.2\.12, dns:extra\.klinikum\.internal/ } });
  });

  t.test('acmeIdentifier not critical: incorrectResponse', async (t) => {
    const dev = await tlsDevice(t, '127.31.2.13', acmeTlsCert(dir, 'noncrit', ['subjectAltName=IP:127.31.2.13', acmeIdExt(KEYAUTH, false)]));
    const r = await validateChallenge('tls-alpn-01', { type: 'ip', value: '127.31.2.13' }, TOKEN, KEYAUTH, { ...base, tlsAlpn01Port: dev.port });
    t.match(r, { ok: false, problem: { type: 'incorrectResponse', detail: /not critical/ } });
  });

  t.test('no acmeIdentifier: incorrectResponse', async (t) => {
    const dev = await tlsDevice(t, '127.31.2.14', acmeTlsCert(dir, 'noext', ['subjectAltName=IP:127.31.2.14']));
    const r = await validateChallenge('tls-alpn-01', { type: 'ip', value: '127.31.2.14' }, TOKEN, KEYAUTH, { ...base, tlsAlpn01Port: dev.port });
    t.match(r, { ok: false, problem: { type: 'incorrectResponse', detail: /without the acmeIdentifier extension/ } });
  });

  t.test('a server that does not speak acme-tls/1: tls problem', async (t) => {
    const dev = await tlsDevice(t, '127.31.2.15', acmeTlsCert(dir, 'plain', ['subjectAltName=IP:127.31.2.15']), ['http/1.1']);
    const r = await validateChallenge('tls-alpn-01', { type: 'ip', value: '127.31.2.15' }, TOKEN, KEYAUTH, { ...base, tlsAlpn01Port: dev.port });
    t.match(r, { ok: false, problem: { type: 'tls', detail: new RegExp(`127\\.31\\.2\\.15:${dev.port} \\(SNI 15\\.2\\.31\\.127\\.in-addr\\.arpa\\)`) } });
  });

  t.test('a tarpit times out in the handshake', async (t) => {
    const pit = await tarpit(t, '127.31.2.16');
    const r = await validateChallenge('tls-alpn-01', { type: 'ip', value: '127.31.2.16' }, TOKEN, KEYAUTH, { ...base, tlsAlpn01Port: pit.port });
    t.match(r, { ok: false, problem: { type: 'connection', detail: /timed out after 800 ms in the TLS handshake.*gave up after 2 attempts/ } });
    t.equal(pit.accepted(), 2);
  });

  t.test('nothing listening: connection problem', async (t) => {
    const r = await validateChallenge('tls-alpn-01', { type: 'ip', value: '127.31.2.17' }, TOKEN, KEYAUTH, { ...base, tlsAlpn01Port: 9, attempts: 1 });
    t.match(r, { ok: false, problem: { type: 'connection', detail: /127\.31\.2\.17:9.*ECONNREFUSED/ } });
  });
});
