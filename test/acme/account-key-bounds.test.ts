// Found in review: an RSA "jwk" was accepted with any modulus of at least 2048 bits and any public
// exponent, and its signature was checked before any account existed. One nonce bought a signature
// check on RSA-16384 or with a 3071-bit exponent: measured 6-8 ms of server CPU per newAccount
// request against ~0.5 ms for an ordinary RSA-2048 key, so the per-address limit (500 requests/s)
// let a single client keep several cores busy. Such keys are now refused as badPublicKey before
// any signature work.
import { randomBytes } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import t from 'tap';
import { acmeFixture } from '../helpers/acme-fixture.ts';

/** A syntactically valid RSA public JWK nobody holds the private key of: the server cannot tell. */
function rsaJwk(modulusBits: number, exponent: Buffer): Record<string, string> {
  const n = randomBytes(modulusBits / 8);
  n[0] |= 0x80;
  n[n.length - 1] |= 1;
  return { kty: 'RSA', n: n.toString('base64url'), e: exponent.toString('base64url') };
}

function oddExponent(bits: number): Buffer {
  const e = randomBytes(Math.ceil(bits / 8));
  e[0] = 0x7f;
  e[e.length - 1] |= 1;
  return e;
}

t.test('RSA account keys outside 2048-4096 bits with e = 65537 are refused before the signature check', async (t) => {
  const f = await acmeFixture(t);
  const c = await f.client('RS256');
  const F4 = Buffer.from([1, 0, 1]);
  const cases: [string, Record<string, string>][] = [
    ['RSA-8192', rsaJwk(8192, F4)],
    ['RSA-16384', rsaJwk(16384, F4)],
    ['RSA-16384 with a 64-bit exponent', rsaJwk(16384, oddExponent(64))],
    ['RSA-3072 with a 3071-bit exponent', rsaJwk(3072, oddExponent(3071))],
    ['RSA-2048 with e = 3', rsaJwk(2048, Buffer.from([3]))],
  ];
  for (const [label, jwk] of cases) {
    const signed = JSON.parse(await c.sign(c.directory.newAccount, { termsOfServiceAgreed: true }, { useJwk: true, header: { jwk } }));
    const r = await c.send('POST', c.directory.newAccount, JSON.stringify(signed));
    t.equal(r.body.type, 'urn:ietf:params:acme:error:badPublicKey', `${label}: badPublicKey (${r.body.detail})`);
    t.equal(r.status, 400, `${label}: HTTP 400`);
  }

  // Ordinary RSA keys still work.
  for (const bits of [2048, 4096] as const) {
    const { privateKey, publicKey } = await generateKeyPair('RS256', { modulusLength: bits, extractable: true });
    const jwk = await exportJWK(publicKey);
    const key = { privateKey, jwk, alg: 'RS256', thumbprint: await calculateJwkThumbprint(jwk, 'sha256') };
    const d = await f.client('RS256');
    d.key = key;
    const r = await d.register();
    t.equal(r.status, 201, `RSA-${bits} with e = 65537: account created (${r.body.detail ?? ''})`);
  }
});
