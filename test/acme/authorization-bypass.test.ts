/**
 * Security review of the ACME server's authorization checks (RFC 8555 §7.3.4, §7.3.5, §10): requests an
 * attacker can make with an account of their own, or with an EAB key of their own. Each test is one defect
 * the review found.
 */
import t from 'tap';
import { FlattenedSign } from 'jose';
import { acmeFixture } from '../helpers/acme-fixture.ts';
import { newAccountKey } from '../helpers/acme-test-client.ts';
import { createEabKey } from '../../src/acme/eab.ts';

const P = 'urn:ietf:params:acme:error:';

/** JSON values that are no JWK jose can hash: not an object, an array, a key type without its members. */
const NOT_JWKS: unknown[] = [{}, 'x', [], { kty: 'EC' }, { kty: 'RSA', n: 1 }];

t.test('keyChange: an inner "oldKey" that is not a JWK is malformed (400), not an internal error (500), and the key stays', async (t) => {
  const f = await acmeFixture(t);
  const c = await f.client();
  await c.register();
  const url = c.directory.keyChange;
  const next = await newAccountKey();
  for (const oldKey of NOT_JWKS) {
    // Everything else in the request is right: the new key signs an inner JWS for this account and URL.
    const inner = await new FlattenedSign(new TextEncoder().encode(JSON.stringify({ account: c.kid, oldKey })))
      .setProtectedHeader({ alg: next.alg, jwk: next.jwk, url } as never).sign(next.privateKey);
    const r = await c.post(url, inner);
    t.equal(r.status, 400, `oldKey ${JSON.stringify(oldKey)}: ${r.text}`);
    t.equal(r.body.type, `${P}malformed`);
    t.match(r.body.detail, /"oldKey"/, 'the detail names the field');
    t.ok(r.headers['replay-nonce'], 'a fresh nonce to retry with (§6.5)');
  }
  const still = await c.post(c.kid!, undefined);
  t.equal(still.status, 200, 'the account key did not change');
  t.equal(f.ca.store.acme.getAccount(c.kid!.split('/').pop()!)?.thumbprint, c.key.thumbprint);
});

t.test('EAB: a MAC-valid binding whose payload is not a JWK is malformed (400), not an internal error (500), and binds nothing', async (t) => {
  const f = await acmeFixture(t, { externalAccountRequired: true });
  const key = createEabKey(f.ca.store.acme, f.ca.meta.policy, { allowIp: ['127.40.17.0/24'] });
  const c = await f.client();
  for (const payload of [...NOT_JWKS, null]) {
    const eab = await new FlattenedSign(new TextEncoder().encode(JSON.stringify(payload)))
      .setProtectedHeader({ alg: 'HS256', kid: key.kid, url: c.directory.newAccount })
      .sign(new Uint8Array(Buffer.from(key.hmacKey, 'base64url')));
    const r = await c.register({ externalAccountBinding: eab });
    t.equal(r.status, 400, `payload ${JSON.stringify(payload)}: ${r.text}`);
    t.equal(r.body.type, `${P}malformed`);
    t.match(r.body.detail, /externalAccountBinding payload/, 'the detail names the field');
  }
  t.equal(f.ca.store.acme.getEabKey(key.kid)?.accountId, undefined, 'the EAB key is still unbound');
  const ok = await c.register({ externalAccountBinding: await c.eab(key.kid, key.hmacKey) });
  t.equal(ok.status, 201, `a correct binding with the same key then succeeds: ${ok.text}`);
});
