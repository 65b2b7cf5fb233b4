/**
 * newOrder identifiers as text: an `ip` value with a zone ID (`fe80::1%eth0`, which Node's isIP accepts)
 * was read as fe80::1; an `xn--` label that is not valid Punycode, or a reserved `ab--c` label, was a name
 * like any other. Both are refused now; a link-local client, whose address the socket reports with its
 * zone, is still served.
 */
import t from 'tap';
import type { FastifyInstance } from 'fastify';
import { acmeFixture, BASE } from '../helpers/acme-fixture.ts';
import { newAccountKey, TestAcmeClient, type Transport } from '../helpers/acme-test-client.ts';

const P = 'urn:ietf:params:acme:error:';

/** Like injectTransport, from a chosen client address (what the socket would report). */
function transportFrom(app: FastifyInstance, remoteAddress: string): Transport {
  return async (method, url, body, contentType = 'application/jose+json') => {
    const res = await app.inject({ method: method as 'GET', url: url.slice(BASE.length), payload: body, remoteAddress, headers: body !== undefined ? { 'content-type': contentType } : {} });
    const headers = Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
    let parsed: unknown = res.body;
    try { parsed = JSON.parse(res.body); } catch { /* not JSON */ }
    return { status: res.statusCode, headers, body: parsed, text: res.body };
  };
}

t.test('newOrder: an ip identifier with a zone ID is malformed', async (t) => {
  const f = await acmeFixture(t);
  const c = await f.client();
  await c.register();
  for (const value of ['fe80::1%eth0', '::1%lo', '::ffff:127.56.0.1%2']) {
    const r = await c.order([{ type: 'ip', value }]);
    t.equal(r.body.type, `${P}malformed`, `${value}: ${r.text}`);
    t.match(r.body.detail, /zone ID/, 'the detail names the zone');
  }
  t.equal((await c.order([{ type: 'ip', value: '127.56.0.1' }])).status, 201, 'a plain address is ordered');
});

t.test('newOrder: xn-- labels must be valid A-labels, other "--" labels are reserved', async (t) => {
  const f = await acmeFixture(t);
  const c = await f.client();
  await c.register();
  for (const value of ['xn--zz.klinikum.internal', 'xn--bucher-xyd.klinikum.internal', 'pacs.xn--a.klinikum.internal', 'ab--c.klinikum.internal']) {
    const r = await c.order([{ type: 'dns', value }]);
    t.equal(r.body.type, `${P}rejectedIdentifier`, `${value}: ${r.text}`);
    t.match(r.body.detail, /A-label|reserved/);
  }
  const ok = await c.order([{ type: 'dns', value: 'xn--bcher-kva.klinikum.internal' }, { type: 'dns', value: 'a-b--c.klinikum.internal' }]);
  t.equal(ok.status, 201, ok.text);
  t.same(ok.body.identifiers.map((i: { value: string }) => i.value).sort(), ['a-b--c.klinikum.internal', 'xn--bcher-kva.klinikum.internal']);
});

t.test('a link-local client (socket address with its zone) is served', async (t) => {
  const f = await acmeFixture(t);
  const c = await new TestAcmeClient(transportFrom(f.app, 'fe80::1%eth0'), `${BASE}/acme/directory`, await newAccountKey()).init();
  const reg = await c.register();
  t.equal(reg.status, 201, reg.text);
  const order = await c.order([{ type: 'ip', value: '127.56.0.2' }]);
  t.equal(order.status, 201, order.text);
});
