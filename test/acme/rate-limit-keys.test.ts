// Found in review: per-address limits were keyed on the exact client address. An IPv6 host picks
// its own interface identifier (SLAAC privacy addresses, or `ip addr add` on any address of its
// /64), so one device could rotate through 2^64 addresses, each with a full bucket: the limit of
// new accounts per address per hour (and of requests per second) did not hold for it at all.
// IPv6 clients are now limited per /64, as Boulder does; IPv4 (also IPv4-mapped IPv6, as a
// dual-stack listener reports IPv4 clients) keeps one bucket per address.
import t from 'tap';
import type { FastifyInstance } from 'fastify';
import { acmeFixture, BASE } from '../helpers/acme-fixture.ts';
import { newAccountKey, TestAcmeClient, type Transport } from '../helpers/acme-test-client.ts';
import { rateLimitKey } from '../../src/acme/rate-limit.ts';

/** Like injectTransport, from a chosen client address. */
function transportFrom(app: FastifyInstance, remoteAddress: string): Transport {
  return async (method, url, body, contentType = 'application/jose+json') => {
    const res = await app.inject({ method: method as 'GET', url: url.slice(BASE.length), payload: body, remoteAddress, headers: body !== undefined ? { 'content-type': contentType } : {} });
    const headers = Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
    let parsed: unknown = res.body;
    try { parsed = JSON.parse(res.body); } catch { /* empty */ }
    return { status: res.statusCode, headers, body: parsed, text: res.body };
  };
}

t.test('rate-limit keys: IPv6 per /64, IPv4 per address', async (t) => {
  t.equal(rateLimitKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd'), '2001:db8:1:2::/64');
  t.equal(rateLimitKey('2001:db8:1:2::1'), rateLimitKey('2001:db8:1:2:ffff::9'), 'one /64, one key');
  t.not(rateLimitKey('2001:db8:1:2::1'), rateLimitKey('2001:db8:1:3::1'), 'another /64, another key');
  t.equal(rateLimitKey('10.20.0.1'), '10.20.0.1');
  t.equal(rateLimitKey('::ffff:10.20.0.1'), '10.20.0.1', 'IPv4-mapped IPv6 is the IPv4 address');
  t.not(rateLimitKey('::ffff:10.20.0.1'), rateLimitKey('::ffff:10.20.0.2'), 'IPv4 clients of a dual-stack listener are not lumped together');
  t.not(rateLimitKey('fe80::1'), rateLimitKey('fe80::2'), 'link-local: all hosts of a link share fe80::/64, so one bucket per address');
  t.equal(rateLimitKey('not an address'), 'not an address');
});

t.test('new accounts from one IPv6 /64 share one limit', async (t) => {
  const f = await acmeFixture(t, { rateLimits: { newAccountsPerAddressPerHour: 2 } as never });
  const register = async (address: string) => {
    const c = await new TestAcmeClient(transportFrom(f.app, address), `${BASE}/acme/directory`, await newAccountKey()).init();
    return c.register();
  };
  t.equal((await register('2001:db8:1:2::a')).status, 201, 'first account of the /64');
  t.equal((await register('2001:db8:1:2::b')).status, 201, 'second account of the /64');
  const third = await register('2001:db8:1:2:8000::c');
  t.equal(third.status, 429, `third account from another address of the same /64 is refused (${third.body.detail})`);
  t.equal(third.body.type, 'urn:ietf:params:acme:error:rateLimited');
  t.match(third.body.detail, '2001:db8:1:2::/64', 'the detail names the /64');
  t.equal((await register('2001:db8:1:3::a')).status, 201, 'another /64 has its own limit');
  for (const a of ['::ffff:10.20.0.1', '::ffff:10.20.0.1', '::ffff:10.20.0.2', '::ffff:10.20.0.2']) {
    t.equal((await register(a)).status, 201, `IPv4 client ${a}: its own limit`);
  }
});
