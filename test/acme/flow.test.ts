import t from 'tap';
import { acmeFixture, BASE } from '../helpers/acme-fixture.ts';
import { verifyChain } from '../helpers/openssl.ts';

t.test('a full issuance with our own client: account, order, http-01, finalize, download, revoke', async (t) => {
  const f = await acmeFixture(t);
  const c = await f.client();
  t.same(Object.keys(c.directory).sort(), ['keyChange', 'meta', 'newAccount', 'newNonce', 'newOrder', 'renewalInfo', 'revokeCert']);
  t.same(Object.keys(c.directory.meta.profiles).sort(), ['dicom-node', 'hl7-node', 'web-server', 'workstation-client']);

  const nonce = await f.send('GET', c.directory.newNonce);
  t.equal(nonce.status, 204);
  t.equal(nonce.headers['cache-control'], 'no-store', 'nonces are never cached (§7.2)');
  t.match(nonce.headers.link, /rel="index"/);

  const reg = await c.register();
  t.equal(reg.status, 201);
  t.match(reg.headers.location, `${BASE}/acme/acct/`);
  t.equal(reg.body.status, 'valid');
  const again = await c.register();
  t.equal(again.status, 200, 'the same key finds its account again');
  t.equal(again.headers.location, reg.headers.location);

  const order = await f.authorize(c, [{ type: 'ip', value: '127.0.0.1' }]);
  t.equal(order.body.status, 'pending');
  t.equal(order.body.profile, 'dicom-node', 'default profile');
  const ready = await c.post(order.headers.location, undefined);
  t.equal(ready.body.status, 'ready', 'order is ready once its authorization is valid');
  const authz = await c.post(order.body.authorizations[0], undefined);
  t.equal(authz.body.status, 'valid');
  t.same(authz.body.challenges.map((x: { type: string }) => x.type), ['http-01'], 'a valid authorization lists only the challenge that succeeded');

  const fin = await c.post(ready.body.finalize, { csr: f.csrFor('ip1', ['IP:127.0.0.1']) });
  t.equal(fin.status, 200, fin.text);
  t.equal(fin.body.status, 'valid');
  const cert = await c.post(fin.body.certificate, undefined);
  t.equal(cert.headers['content-type'], 'application/pem-certificate-chain');
  const [leaf, mid] = cert.text.split(/(?<=-----END CERTIFICATE-----\n)/);
  t.ok(verifyChain(f.ca.rootPem, mid, leaf, f.work, ['-verify_ip', '127.0.0.1']).ok, 'downloaded chain verifies for the IP');

  const list = await c.post(`${c.kid}/orders`, undefined);
  t.same(list.body.orders, [order.headers.location], 'the account orders list (§7.1.2.1)');

  const der = Buffer.from(leaf.replace(/-----[^-]+-----|\s/g, ''), 'base64').toString('base64url');
  const rev = await c.post(c.directory.revokeCert, { certificate: der, reason: 1 });
  t.equal(rev.status, 200, rev.text);
  const serial = fin.body.certificate.split('/').pop();
  t.equal(f.ca.store.getCertificate(serial)?.status, 'revoked');
  t.equal(f.ca.store.getCertificate(serial)?.revocationReason, 1);
  const twice = await c.post(c.directory.revokeCert, { certificate: der });
  t.equal(twice.body.type, 'urn:ietf:params:acme:error:alreadyRevoked');
});

t.test('two concurrent finalizes issue exactly one certificate', async (t) => {
  const f = await acmeFixture(t);
  const c = await f.client();
  await c.register();
  const order = await f.authorize(c, [{ type: 'ip', value: '127.0.0.2' }]);
  const csr = f.csrFor('race', ['IP:127.0.0.2']);
  const [a, b] = await Promise.all([
    c.send('POST', order.body.finalize, await c.sign(order.body.finalize, { csr }, { nonce: await c.freshNonce() })),
    c.send('POST', order.body.finalize, await c.sign(order.body.finalize, { csr }, { nonce: await c.freshNonce() })),
  ]);
  const statuses = [a.status, b.status].sort();
  t.same(statuses, [200, 403], 'one wins, the other gets orderNotReady');
  t.match([a.body.type, b.body.type].join(' '), /orderNotReady/);
  t.equal(f.ca.store.countCertificates(), 1, 'one certificate stored');
});

t.test('finalize answers processing with Retry-After when issuance is slower than the wait', async (t) => {
  const f = await acmeFixture(t, { processingWaitMs: 0 });
  const c = await f.client();
  await c.register();
  const order = await f.authorize(c, [{ type: 'ip', value: '127.0.0.3' }]);
  const fin = await c.post(order.body.finalize, { csr: f.csrFor('slow', ['IP:127.0.0.3']) });
  t.equal(fin.body.status, 'processing');
  t.equal(fin.headers['retry-after'], '1');
  await f.ctx.work.drain();
  const done = await c.post(order.headers.location, undefined);
  t.equal(done.body.status, 'valid');
});

t.test('profiles: newOrder picks one, unknown ones are refused', async (t) => {
  const f = await acmeFixture(t, { defaultProfile: 'dicom-node' });
  const c = await f.client();
  await c.register();
  const order = await f.authorize(c, [{ type: 'ip', value: '127.0.0.4' }], { profile: 'hl7-node' });
  t.equal(order.body.profile, 'hl7-node');
  const fin = await c.post(order.body.finalize, { csr: f.csrFor('p', ['IP:127.0.0.4']) });
  t.equal(f.ca.store.getCertificate(fin.body.certificate.split('/').pop())?.profile, 'hl7-node', 'issued under the requested profile');
  const bad = await c.order([{ type: 'ip', value: '127.0.0.4' }], { profile: 'gold' });
  t.equal(bad.body.type, 'urn:ietf:params:acme:error:invalidProfile');
  t.match(bad.body.detail, /offered: .*dicom-node/);
});

t.test('keyChange rolls the account key; the old key no longer works', async (t) => {
  const f = await acmeFixture(t);
  const c = await f.client();
  await c.register();
  const { newAccountKey } = await import('../helpers/acme-test-client.ts');
  const next = await newAccountKey('ES384');
  const url = c.directory.keyChange;
  const { FlattenedSign } = await import('jose');
  const inner = await new FlattenedSign(new TextEncoder().encode(JSON.stringify({ account: c.kid, oldKey: c.key.jwk })))
    .setProtectedHeader({ alg: next.alg, jwk: next.jwk, url } as never).sign(next.privateKey);
  const r = await c.post(url, inner);
  t.equal(r.status, 200, r.text);
  const old = await c.post(c.kid!, undefined);
  t.equal(old.status, 400, 'old key fails signature verification');
  c.key = next;
  const ok = await c.post(c.kid!, undefined);
  t.equal(ok.status, 200, 'new key works');

  // A second account cannot take a key that is in use: 409 with the owner's URL.
  const other = await f.client();
  await other.register();
  const steal = await new FlattenedSign(new TextEncoder().encode(JSON.stringify({ account: other.kid, oldKey: other.key.jwk })))
    .setProtectedHeader({ alg: next.alg, jwk: next.jwk, url } as never).sign(next.privateKey);
  const conflict = await other.post(url, steal);
  t.equal(conflict.status, 409);
  t.equal(conflict.headers.location, c.kid);
});

t.test('account update and deactivation', async (t) => {
  const f = await acmeFixture(t);
  const c = await f.client();
  await c.register();
  const upd = await c.post(c.kid!, { contact: ['mailto:pacs-admin@klinikum.internal'] });
  t.same(upd.body.contact, ['mailto:pacs-admin@klinikum.internal']);
  const pending = await c.order([{ type: 'ip', value: '127.0.0.8' }]);
  const ready = await f.authorize(c, [{ type: 'ip', value: '127.0.0.7' }]);
  const orderId = (r: { headers: Record<string, string> }) => r.headers.location.split('/').pop()!;
  t.equal(f.ca.store.acme.getOrder(orderId(ready))?.status, 'ready');
  const deact = await c.post(c.kid!, { status: 'deactivated' });
  t.equal(deact.body.status, 'deactivated');
  // §7.3.6: pending operations of the account are cancelled.
  for (const [name, order] of [['pending', pending], ['ready', ready]] as const) {
    const stored = f.ca.store.acme.getOrder(orderId(order));
    t.equal(stored?.status, 'invalid', `the ${name} order was cancelled`);
    t.match(stored?.error?.detail, /account that placed this order was deactivated/);
  }
  const after = await c.order([{ type: 'ip', value: '127.0.0.9' }]);
  t.equal(after.body.type, 'urn:ietf:params:acme:error:unauthorized', 'a deactivated account can do nothing');
});

t.test('authorization deactivation invalidates the order', async (t) => {
  const f = await acmeFixture(t);
  const c = await f.client();
  await c.register();
  const order = await c.order([{ type: 'ip', value: '127.0.0.10' }]);
  const r = await c.post(order.body.authorizations[0], { status: 'deactivated' });
  t.equal(r.body.status, 'deactivated');
  t.equal((await c.post(order.headers.location, undefined)).body.status, 'invalid');
});

t.test('revokeCert by another account: refused unless it holds valid authorizations for every name (RFC 8555 §7.6)', async (t) => {
  const f = await acmeFixture(t);
  const owner = await f.client();
  await owner.register();
  const order = await f.authorize(owner, [{ type: 'ip', value: '127.0.0.4' }, { type: 'ip', value: '127.0.0.5' }]);
  const fin = await owner.post(order.body.finalize, { csr: f.csrFor('two', ['IP:127.0.0.4', 'IP:127.0.0.5']) });
  t.equal(fin.body.status, 'valid', fin.text);
  const pem = (await owner.post(fin.body.certificate, undefined)).text.split(/(?<=-----END CERTIFICATE-----\n)/)[0];
  const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64').toString('base64url');
  const serial = fin.body.certificate.split('/').pop();

  const other = await f.client();
  await other.register();
  const none = await other.post(other.directory.revokeCert, { certificate: der, reason: 4 });
  t.equal(none.status, 403);
  t.equal(none.body.type, 'urn:ietf:params:acme:error:unauthorized');
  t.match(none.body.detail, /no valid authorization for 127\.0\.0\.4, 127\.0\.0\.5/, 'names what is missing');

  await f.authorize(other, [{ type: 'ip', value: '127.0.0.4' }]);
  const half = await other.post(other.directory.revokeCert, { certificate: der, reason: 4 });
  t.equal(half.status, 403, 'one name of two is not enough');
  t.match(half.body.detail, /no valid authorization for 127\.0\.0\.5:/);

  // An authorization the account deactivated proves nothing.
  const second = await f.authorize(other, [{ type: 'ip', value: '127.0.0.5' }]);
  const authzUrl = second.body.authorizations[0];
  t.equal((await other.post(authzUrl, { status: 'deactivated' })).body.status, 'deactivated');
  t.equal((await other.post(other.directory.revokeCert, { certificate: der, reason: 4 })).status, 403, 'a deactivated authorization does not count');
  t.equal(f.ca.store.getCertificate(serial)?.status, 'valid', 'nothing revoked so far');

  await f.authorize(other, [{ type: 'ip', value: '127.0.0.5' }]);
  const both = await other.post(other.directory.revokeCert, { certificate: der, reason: 4 });
  t.equal(both.status, 200, both.text);
  t.equal(f.ca.store.getCertificate(serial)?.status, 'revoked', 'revoked by the account that proved control of both names');
  t.equal(f.ca.store.getCertificate(serial)?.revocationReason, 4);
});
