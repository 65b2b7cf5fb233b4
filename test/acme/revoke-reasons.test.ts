// RFC 8555 §7.6 revokeCert "reason": the RFC 5280 codes a subscriber may give over ACME (0, 1, 3, 4, 5, as
// Boulder allows); the admin CLI keeps every code. Addresses: 127.42.0.0/24.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { createPublicKey } from 'node:crypto';
import { join } from 'node:path';
import { calculateJwkThumbprint, exportJWK, importPKCS8 } from 'jose';
import { parseRevocationReason } from '../../src/pki/revocation-reasons.ts';
import { acmeFixture } from '../helpers/acme-fixture.ts';

const P = 'urn:ietf:params:acme:error:';
const ALLOWED = '0 (unspecified), 1 (keyCompromise), 3 (affiliationChanged), 4 (superseded), 5 (cessationOfOperation)';

t.test('revokeCert refuses the reasons that are not the subscriber\'s to give, and takes the others', async (t) => {
  const f = await acmeFixture(t);
  const c = await f.client();
  await c.register();

  /** Issues a certificate for one loopback IP; returns its base64url DER and serial. */
  async function issue(ip: string) {
    const order = await f.authorize(c, [{ type: 'ip', value: ip }]);
    const fin = await c.post(order.body.finalize, { csr: f.csrFor(`r-${ip}`, [`IP:${ip}`]) });
    if (fin.body.status !== 'valid') throw new Error(`finalize failed: ${fin.text}`);
    const pem = (await c.post(fin.body.certificate, undefined)).text.split(/(?<=-----END CERTIFICATE-----\n)/)[0];
    return { der: Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64').toString('base64url'), serial: fin.body.certificate.split('/').pop() as string };
  }

  const cert = await issue('127.42.0.1');
  // cACompromise, certificateHold, privilegeWithdrawn, aACompromise; then codes RFC 5280 does not assign to a CA.
  for (const reason of [2, 6, 9, 10, 7, 8, 11, -1, 1.5, '1', null]) {
    const r = await c.post(c.directory.revokeCert, { certificate: cert.der, reason });
    t.equal(r.status, 400, `reason ${JSON.stringify(reason)}: 400`);
    t.equal(r.body.type, `${P}badRevocationReason`, `reason ${JSON.stringify(reason)}: badRevocationReason`);
    t.equal(r.body.detail, `revocation reason ${JSON.stringify(reason)} is not allowed over ACME; use one of the RFC 5280 codes ${ALLOWED}`);
  }
  t.equal(f.ca.store.getCertificate(cert.serial)?.status, 'valid', 'nothing was revoked');

  // Signed by the certificate's own key (jwk, §7.6): held to the same list.
  const pkcs8 = readFileSync(join(f.work, 'r-127.42.0.1.key'), 'utf8');
  const privateKey = await importPKCS8(pkcs8, 'ES256');
  const jwk = await exportJWK(createPublicKey(pkcs8));
  const certKey = { privateKey, jwk, alg: 'ES256', thumbprint: await calculateJwkThumbprint(jwk, 'sha256') };
  const byKey = await c.post(c.directory.revokeCert, { certificate: cert.der, reason: 6 }, { useJwk: true, key: certKey });
  t.equal(byKey.body.type, `${P}badRevocationReason`, 'certificateHold is refused when the certificate key signs too');
  t.equal(f.ca.store.getCertificate(cert.serial)?.status, 'valid', 'still nothing revoked');
  const compromised = await c.post(c.directory.revokeCert, { certificate: cert.der, reason: 1 }, { useJwk: true, key: certKey });
  t.equal(compromised.status, 200, `keyCompromise signed by the certificate key is accepted: ${compromised.text}`);
  t.equal(f.ca.store.getCertificate(cert.serial)?.revocationReason, 1);

  for (const [i, reason] of [0, 3, 4, 5].entries()) {
    const { der, serial } = await issue(`127.42.0.${i + 2}`);
    const r = await c.post(c.directory.revokeCert, { certificate: der, reason });
    t.equal(r.status, 200, `reason ${reason} is accepted: ${r.text}`);
    t.equal(f.ca.store.getCertificate(serial)?.revocationReason, reason, `and recorded as ${reason}`);
  }
  const omitted = await issue('127.42.0.9');
  t.equal((await c.post(c.directory.revokeCert, { certificate: omitted.der })).status, 200, 'no reason is unspecified');
  t.equal(f.ca.store.getCertificate(omitted.serial)?.revocationReason, 0);
});

t.test('the admin CLI still takes every RFC 5280 reason a CA may assert', async (t) => {
  t.same(['cACompromise', 'certificateHold', 'privilegeWithdrawn', 'aACompromise'].map((r) => parseRevocationReason(r)), [2, 6, 9, 10]);
});
