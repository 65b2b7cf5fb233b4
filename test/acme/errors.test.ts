import t from 'tap';
import { FlattenedSign } from 'jose';
import { acmeFixture, BASE } from '../helpers/acme-fixture.ts';
import { newAccountKey } from '../helpers/acme-test-client.ts';

const P = 'urn:ietf:params:acme:error:';

t.test('RFC 8555 error cases: each a problem document of the right type with a fresh nonce', async (t) => {
  const f = await acmeFixture(t);
  const c = await f.client();
  await c.register();
  const url = c.directory.newOrder;
  const ids = { identifiers: [{ type: 'ip', value: '127.0.0.1' }] };

  const expectProblem = (r: { status: number; headers: Record<string, string>; body: { type?: string; detail?: string } }, type: string, status: number, label: string) => {
    t.equal(r.body.type, P + type, `${label}: type ${type} (${r.body.detail})`);
    t.equal(r.status, status, `${label}: HTTP ${status}`);
    t.equal(r.headers['content-type']?.split(';')[0], 'application/problem+json', `${label}: problem+json`);
    t.ok(r.headers['replay-nonce'], `${label}: carries a fresh Replay-Nonce`);
  };

  // badNonce: reused, unknown, missing
  const nonce = await c.freshNonce();
  const first = await c.send('POST', url, await c.sign(url, ids, { nonce }));
  t.equal(first.status, 201);
  expectProblem(await c.send('POST', url, await c.sign(url, ids, { nonce })), 'badNonce', 400, 'replayed nonce');
  expectProblem(await c.send('POST', url, await c.sign(url, ids, { nonce: 'bm90LWEtbm9uY2U' })), 'badNonce', 400, 'unknown nonce');
  expectProblem(await c.send('POST', url, await c.sign(url, ids, { nonce: null })), 'badNonce', 400, 'missing nonce');

  // badSignatureAlgorithm: none and HS256 on the outer JWS
  const hs = await new FlattenedSign(new TextEncoder().encode(JSON.stringify(ids)))
    .setProtectedHeader({ alg: 'HS256', kid: c.kid, url, nonce: await c.freshNonce() }).sign(new Uint8Array(32));
  const macd = await c.send('POST', url, JSON.stringify(hs));
  expectProblem(macd, 'badSignatureAlgorithm', 400, 'HS256 outer JWS');
  t.same(macd.body.algorithms, ['ES256', 'ES384', 'RS256', 'EdDSA'], 'the problem lists the accepted algorithms');
  const none = { protected: Buffer.from(JSON.stringify({ alg: 'none', kid: c.kid, url, nonce: await c.freshNonce() })).toString('base64url'), payload: Buffer.from(JSON.stringify(ids)).toString('base64url'), signature: '' };
  expectProblem(await c.send('POST', url, JSON.stringify(none)), 'badSignatureAlgorithm', 400, 'alg none');

  // malformed: not JSON, not flattened, unprotected header, both jwk and kid, bad signature, POST-as-GET with payload
  expectProblem(await c.send('POST', url, '{not json'), 'malformed', 400, 'not JSON');
  expectProblem(await c.send('POST', url, JSON.stringify({ payload: '', signatures: [] })), 'malformed', 400, 'general serialization');
  const signed = JSON.parse(await c.sign(url, ids));
  expectProblem(await c.send('POST', url, JSON.stringify({ ...signed, header: { kid: 'x' } })), 'malformed', 400, 'unprotected header');
  expectProblem(await c.send('POST', url, await c.sign(url, ids, { header: { jwk: c.key.jwk } })), 'malformed', 400, 'jwk and kid together');
  const tampered = JSON.parse(await c.sign(url, ids));
  tampered.payload = Buffer.from(JSON.stringify({ identifiers: [{ type: 'ip', value: '127.0.0.66' }] })).toString('base64url');
  expectProblem(await c.send('POST', url, JSON.stringify(tampered)), 'malformed', 400, 'payload altered after signing');
  expectProblem(await c.post(c.kid!.replace(/[^/]+$/, '') + c.kid!.split('/').pop() + '/orders', {}), 'malformed', 400, 'POST-as-GET resource with a payload');
  expectProblem(await c.post(c.directory.newAccount, {}, { useJwk: false }), 'malformed', 400, 'newAccount signed with kid');
  expectProblem(await c.send('POST', url, await c.sign(url, ids), 'application/json'), 'malformed', 415, 'wrong Content-Type');
  expectProblem(await c.send('POST', url, JSON.stringify({ protected: 'x'.repeat(70_000), payload: '', signature: '' })), 'malformed', 413, 'body above the limit');

  // unauthorized: url mismatch, another account's order
  expectProblem(await c.send('POST', url, await c.sign(`${BASE}/acme/new-account`, ids)), 'unauthorized', 403, 'JWS url differs from request URL');
  const other = await f.client();
  await other.register();
  expectProblem(await other.post(first.headers.location, undefined), 'unauthorized', 403, "another account's order");

  // accountDoesNotExist: unknown kid; onlyReturnExisting for a new key
  expectProblem(await c.send('POST', url, await c.sign(url, ids, { header: { kid: `${BASE}/acme/acct/nope` } })), 'accountDoesNotExist', 400, 'unknown kid');
  const stranger = await f.client();
  expectProblem(await stranger.post(stranger.directory.newAccount, { onlyReturnExisting: true }, { useJwk: true }), 'accountDoesNotExist', 400, 'onlyReturnExisting');

  // badPublicKey: private key material in jwk
  const withD = await newAccountKey('ES256');
  expectProblem(await stranger.post(stranger.directory.newAccount, {}, { useJwk: true, header: { jwk: { ...withD.jwk, d: 'AAAA' } } }), 'badPublicKey', 400, 'jwk with private part');

  // invalidContact / unsupportedContact
  expectProblem(await stranger.post(stranger.directory.newAccount, { contact: ['tel:+4930123'] }, { useJwk: true }), 'unsupportedContact', 400, 'tel: contact');
  expectProblem(await stranger.post(stranger.directory.newAccount, { contact: ['mailto:not-an-address'] }, { useJwk: true }), 'invalidContact', 400, 'bad e-mail');

  // rejectedIdentifier with subproblems per identifier; unsupportedIdentifier
  const rej = await c.order([{ type: 'dns', value: 'www.example.com' }, { type: 'ip', value: '8.8.8.8' }, { type: 'ip', value: '127.0.0.5' }]);
  expectProblem(rej, 'rejectedIdentifier', 400, 'public names');
  t.same(rej.body.subproblems.map((s: { identifier: { value: string } }) => s.identifier.value), ['www.example.com', '8.8.8.8'], 'one subproblem per refused identifier, none for the permitted one');
  t.equal(rej.body.subproblems[0].type, `${P}rejectedIdentifier`);
  expectProblem(await c.order([{ type: 'dns', value: '*.klinikum.internal' }]), 'rejectedIdentifier', 400, 'wildcard');
  expectProblem(await c.order([{ type: 'email', value: 'a@klinikum.internal' }]), 'unsupportedIdentifier', 400, 'email identifier');
  expectProblem(await c.order([]), 'malformed', 400, 'no identifiers');

  // orderNotReady: finalize before authorization
  const pending = await c.order([{ type: 'ip', value: '127.0.0.6' }]);
  expectProblem(await c.post(pending.body.finalize, { csr: f.csrFor('nr', ['IP:127.0.0.6']) }), 'orderNotReady', 403, 'finalize a pending order');

  // badCSR: names differ from the order, account key reused, weak key, garbage
  const ready = await f.authorize(c, [{ type: 'ip', value: '127.0.0.7' }]);
  expectProblem(await c.post(ready.body.finalize, { csr: f.csrFor('wrongnames', ['IP:127.0.0.8']) }), 'badCSR', 400, 'CSR for other names');
  expectProblem(await c.post(ready.body.finalize, { csr: f.csrFor('weak', ['IP:127.0.0.7'], 'rsa1024') }), 'badCSR', 400, 'RSA-1024 CSR');
  expectProblem(await c.post(ready.body.finalize, { csr: 'AAAA' }), 'badCSR', 400, 'garbage CSR');
  t.equal((await c.post(ready.headers.location, undefined)).body.status, 'ready', 'refused finalizes leave the order ready');

  // badRevocationReason
  const fin = await c.post(ready.body.finalize, { csr: f.csrFor('ok', ['IP:127.0.0.7']) });
  const pem = (await c.post(fin.body.certificate, undefined)).text;
  const der = Buffer.from(pem.split('-----END CERTIFICATE-----')[0].replace(/-----[^-]+-----|\s/g, ''), 'base64').toString('base64url');
  expectProblem(await c.post(c.directory.revokeCert, { certificate: der, reason: 7 }), 'badRevocationReason', 400, 'reason 7');
  expectProblem(await other.post(other.directory.revokeCert, { certificate: der }), 'unauthorized', 403, 'revocation by a stranger account');

  // unknown resources still answer with a problem document
  expectProblem(await c.send('GET', `${BASE}/acme/nothing-here`), 'malformed', 404, 'unknown path');
  t.equal(f.ctx.work instanceof Object, true);
});

t.test('an account key cannot sign its own CSR (RFC 8555 §11.1)', async (t) => {
  const f = await acmeFixture(t);
  const c = await f.client('ES256');
  await c.register();
  const ready = await f.authorize(c, [{ type: 'ip', value: '127.0.0.11' }]);
  // Build the CSR with the account key itself.
  const x = (await import('../../src/pki/x509.ts')).x509;
  const { importJWK, exportJWK } = await import('jose');
  const pub = await importJWK(c.key.jwk, 'ES256', { extractable: true }) as CryptoKey;
  void exportJWK;
  const csr = await x.Pkcs10CertificateRequestGenerator.create({
    name: 'CN=127.0.0.11', keys: { privateKey: c.key.privateKey as CryptoKey, publicKey: pub }, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [new x.SubjectAlternativeNameExtension([{ type: 'ip', value: '127.0.0.11' }])],
  });
  const r = await c.post(ready.body.finalize, { csr: Buffer.from(csr.rawData).toString('base64url') });
  t.equal(r.body.type, `${P}badCSR`);
  t.match(r.body.detail, /account key/);
});

t.test('rate limits answer rateLimited with Retry-After', async (t) => {
  const f = await acmeFixture(t, { rateLimits: { ordersPerAccountPerMinute: 2, requestsPerAddressPerSecond: 1000, newAccountsPerAddressPerHour: 100 } });
  const c = await f.client();
  await c.register();
  for (let i = 0; i < 2; i++) t.equal((await c.order([{ type: 'ip', value: '127.0.0.12' }])).status, 201);
  const limited = await c.order([{ type: 'ip', value: '127.0.0.12' }]);
  t.equal(limited.status, 429);
  t.equal(limited.body.type, `${P}rateLimited`);
  t.ok(Number(limited.headers['retry-after']) >= 1, 'Retry-After given');
});
