// RFC 8555 §7.3.5 account key rollover: every rule on the inner JWS, each refusal leaving the account key
// as it was. No validation here, so no device addresses are used.
import t from 'tap';
import { FlattenedSign } from 'jose';
import { acmeFixture } from '../helpers/acme-fixture.ts';
import { newAccountKey, type AccountKey, type TestAcmeClient } from '../helpers/acme-test-client.ts';

const P = 'urn:ietf:params:acme:error:';

/** An inner JWS signed by `signer` (the new key unless told) with the given protected header and payload. */
async function innerJws(header: Record<string, unknown>, payload: unknown, signer: AccountKey) {
  return new FlattenedSign(new TextEncoder().encode(JSON.stringify(payload))).setProtectedHeader(header as never).sign(signer.privateKey);
}

t.test('keyChange refuses an inner JWS that breaks a §7.3.5 rule, and the account keeps its key', async (t) => {
  const f = await acmeFixture(t);
  const c = await f.client();
  await c.register();
  const other = await f.client();
  await other.register();
  const next = await newAccountKey('ES256');
  const stranger = await newAccountKey('ES256');
  const url = c.directory.keyChange;
  const accountId = c.kid!.split('/').pop()!;
  const good = { account: c.kid, oldKey: c.key.jwk };
  const base = { alg: next.alg, jwk: next.jwk, url };

  const cases: [string, Record<string, unknown>, unknown, RegExp, AccountKey?][] = [
    // "The inner JWS MUST omit the "nonce" header parameter": a real, unspent nonce is no excuse.
    ['a "nonce" in the inner header', { ...base, nonce: await c.freshNonce() }, good, /omit the "nonce" header parameter/],
    ['an empty "nonce" in the inner header', { ...base, nonce: '' }, good, /omit the "nonce" header parameter/],
    ['"kid" instead of "jwk"', { alg: next.alg, kid: c.kid, url }, good, /must carry "jwk" \(the new key\) and no "kid"/],
    ['both "jwk" and "kid"', { ...base, kid: c.kid }, good, /must carry "jwk" \(the new key\) and no "kid"/],
    ['an inner "url" other than the outer one', { ...base, url: c.directory.newOrder }, good, /inner JWS "url" must equal the outer JWS "url"/],
    ['no inner "url"', { alg: next.alg, jwk: next.jwk }, good, /inner JWS "url" must equal the outer JWS "url"/],
    ['"account" naming another account', base, { ...good, account: other.kid }, /"account" must be the URL of the signing account/],
    ['no "account"', base, { oldKey: c.key.jwk }, /"account" must be the URL of the signing account/],
    ['"oldKey" that is not the account key', base, { ...good, oldKey: stranger.jwk }, /"oldKey" is not the current account key/],
    ['"oldKey" that is the new key', base, { ...good, oldKey: next.jwk }, /"oldKey" is not the current account key/],
    ['an inner JWS not signed by its "jwk"', base, good, /signature does not verify/, stranger],
  ];
  for (const [name, header, payload, detail, signer] of cases) {
    const r = await c.post(url, await innerJws(header, payload, signer ?? next));
    t.equal(r.status, 400, `${name}: 400`);
    t.equal(r.body.type, `${P}malformed`, `${name}: malformed`);
    t.match(r.body.detail, detail, `${name}: the detail names the rule`);
    t.equal(f.ctx.store.getAccount(accountId)?.thumbprint, c.key.thumbprint, `${name}: the account key is unchanged`);
  }

  // The same inner JWS without the nonce goes through: the refusals above were about the rule alone.
  const ok = await c.post(url, await innerJws(base, good, next));
  t.equal(ok.status, 200, ok.text);
  t.equal(f.ctx.store.getAccount(accountId)?.thumbprint, next.thumbprint, 'the account now has the new key');
});

t.test('keyChange to a key another account holds: 409, malformed, Location of that account', async (t) => {
  const f = await acmeFixture(t);
  const c = await f.client();
  await c.register();
  const holder: TestAcmeClient = await f.client();
  await holder.register();
  const url = c.directory.keyChange;
  const r = await c.post(url, await innerJws({ alg: holder.key.alg, jwk: holder.key.jwk, url }, { account: c.kid, oldKey: c.key.jwk }, holder.key));
  t.equal(r.status, 409);
  t.equal(r.body.type, `${P}malformed`);
  t.equal(r.headers.location, holder.kid, 'Location names the account that holds the key (§7.3.5)');
  t.equal(f.ctx.store.getAccount(c.kid!.split('/').pop()!)?.thumbprint, c.key.thumbprint, 'the account key is unchanged');
  t.equal((await holder.post(holder.kid!, undefined)).status, 200, 'and the holder still signs with it');
});
