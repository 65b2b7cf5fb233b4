import t from 'tap';
import { challengeTypesFor, dns01TxtValue, resolveValidationOptions, validateChallenge } from '../../../src/acme/challenges/index.ts';
import { challTestSrvRequired, startChallTestSrv } from './fixtures/challtestsrv.ts';
import { silentDns } from './fixtures/device.ts';
import { recordConnects } from '../../helpers/connect-guard.ts';
import { openssl } from '../../helpers/openssl.ts';

// Addresses of this file: 127.31.3.0/24.
const TOKEN = 'tok-dns01-0123456789ab';
const KEYAUTH = `${TOKEN}.thumbprint-dns`;

t.test('dns-01 against pebble-challtestsrv as the hospital DNS', challTestSrvRequired(), async (t) => {
  const srv = await startChallTestSrv(t, { dns: '127.31.3.1', http: '127.31.3.2', tls: '127.31.3.3' });
  const opts = resolveValidationOptions({ dnsResolvers: [srv.resolver], timeoutMs: 2000, attempts: 2 });

  t.test('success: one of several TXT records matches; no TCP connection is made', async (t) => {
    await srv.setTxt('_acme-challenge.ris.klinikum.internal', 'unrelated-value');
    await srv.setTxt('_acme-challenge.ris.klinikum.internal', dns01TxtValue(KEYAUTH));
    const connects = recordConnects(t);
    const r = await validateChallenge('dns-01', { type: 'dns', value: 'ris.klinikum.internal' }, TOKEN, KEYAUTH, opts);
    t.same(r, { ok: true });
    t.same(connects, []);
  });

  t.test('wrong value: unauthorized, listing what was found', async (t) => {
    await srv.setTxt('_acme-challenge.his.klinikum.internal', 'stale-value-from-last-month');
    const r = await validateChallenge('dns-01', { type: 'dns', value: 'his.klinikum.internal' }, TOKEN, KEYAUTH, opts);
    t.match(r, { ok: false, problem: { type: 'unauthorized', detail: /_acme-challenge\.his\.klinikum\.internal matches ".+" \(found 1: "stale-value-from-last-month"\)/ } });
  });

  t.test('no record: unauthorized with the expected value', async (t) => {
    const r = await validateChallenge('dns-01', { type: 'dns', value: 'lis.klinikum.internal' }, TOKEN, KEYAUTH, opts);
    t.match(r, { ok: false, problem: { type: 'unauthorized', detail: `no TXT record at _acme-challenge.lis.klinikum.internal; expected one with "${dns01TxtValue(KEYAUTH)}"` } });
  });

  t.test('the TXT value matches openssl: base64url(SHA-256(key authorization)), unpadded (RFC 8555 §8.4)', async (t) => {
    const hex = /= ?([0-9a-f]{64})/.exec(openssl(['dgst', '-sha256'], KEYAUTH))![1];
    t.equal(dns01TxtValue(KEYAUTH), Buffer.from(hex, 'hex').toString('base64url'));
    t.equal(dns01TxtValue(KEYAUTH).length, 43);
  });
});

t.test('dns-01 failure modes without a DNS peer', async (t) => {
  t.test('a resolver that never answers: dns problem after every attempt times out', async (t) => {
    const resolver = await silentDns(t, '127.31.3.20');
    const start = Date.now();
    const r = await validateChallenge('dns-01', { type: 'dns', value: 'ris.klinikum.internal' }, TOKEN, KEYAUTH, resolveValidationOptions({ dnsResolvers: [resolver], timeoutMs: 400, attempts: 2 }));
    t.match(r, { ok: false, problem: { type: 'dns', detail: new RegExp(`_acme-challenge\\.ris\\.klinikum\\.internal via resolver ${resolver.replace(/\./g, '\\.')}.*gave up after 2 attempts`) } });
    t.ok(Date.now() - start < 3000, 'bounded by the per-attempt timeout');
  });

  t.test('IP identifiers have no dns-01 (RFC 8738 §7)', async (t) => {
    t.same(challengeTypesFor({ type: 'ip', value: '10.20.0.5' }), ['http-01', 'tls-alpn-01']);
    t.same(challengeTypesFor({ type: 'dns', value: 'pacs.klinikum.internal' }), ['http-01', 'dns-01', 'tls-alpn-01']);
    const r = await validateChallenge('dns-01', { type: 'ip', value: '10.20.0.5' }, TOKEN, KEYAUTH, resolveValidationOptions({ dnsResolvers: ['127.31.3.250:9'] }));
    t.match(r, { ok: false, problem: { type: 'rejectedIdentifier', detail: /RFC 8738 §7/ } });
  });

  t.test('wildcards are refused', async (t) => {
    const r = await validateChallenge('dns-01', { type: 'dns', value: '*.klinikum.internal' }, TOKEN, KEYAUTH, resolveValidationOptions({ dnsResolvers: ['127.31.3.250:9'] }));
    t.match(r, { ok: false, problem: { type: 'rejectedIdentifier', detail: /wildcard/ } });
  });
});
