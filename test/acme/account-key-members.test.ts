/**
 * A JWS "jwk" is only its key members (RFC 7638 §3.2) to the server: whatever else it carries is
 * neither cached nor stored. Found in review: the imported-key cache was keyed by the whole "jwk",
 * before any signature was checked, so anyone with a nonce could park 64 KiB per request in it.
 */
import t from 'tap';
import { accountKeyCacheChars } from '../../src/acme/jws.ts';
import { acmeFixture } from '../helpers/acme-fixture.ts';

t.test('extra "jwk" members are not cached, not stored, and do not change the key', async (t) => {
  const f = await acmeFixture(t);
  const before = accountKeyCacheChars();
  const junk = (i: number) => `${i}`.padEnd(48_000, 'x');

  // Signed correctly (the protected header, junk included, is what is signed): the account is created.
  const c = await f.client();
  const created = await c.post(c.directory.newAccount, { termsOfServiceAgreed: true }, { useJwk: true, header: { jwk: { ...c.key.jwk, x_note: junk(0), key_ops: ['encrypt'] } } });
  t.equal(created.status, 201, `account created (${created.body.detail ?? ''})`);
  const id = created.headers.location.split('/').pop()!;
  t.same(Object.keys(f.ctx.store.getAccount(id)!.jwk).sort(), Object.keys(c.key.jwk).sort(), 'the account stores the key members only');

  // Twenty requests from strangers, each with different junk and a signature that does not verify.
  for (let i = 1; i <= 20; i++) {
    const s = await f.client();
    const signed = JSON.parse(await s.sign(s.directory.newAccount, { termsOfServiceAgreed: true }, { useJwk: true, header: { jwk: { ...s.key.jwk, x_note: junk(i) } } }));
    signed.signature = Buffer.alloc(64, 1).toString('base64url');
    const r = await s.send('POST', s.directory.newAccount, JSON.stringify(signed));
    t.equal(r.status, 400, `stranger ${i}: refused`);
  }
  const grown = accountKeyCacheChars() - before;
  t.ok(grown < 21 * 400, `the key cache grew by ${grown} characters for 21 keys carrying 48 kB of junk each`);
});
