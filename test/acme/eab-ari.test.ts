import t from 'tap';
import { acmeFixture } from '../helpers/acme-fixture.ts';
import { createEabKey, newHmacKey } from '../../src/acme/eab.ts';
import { certIdOf, parseCertId, suggestedWindow } from '../../src/acme/ari.ts';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openssl } from '../helpers/openssl.ts';
import { tempDir } from '../helpers/tmp.ts';
import type { CertificateRecord } from '../../src/store/types.ts';

const P = 'urn:ietf:params:acme:error:';

t.test('External Account Binding: required, verified, single use, and binds names', async (t) => {
  const f = await acmeFixture(t, { externalAccountRequired: true });
  const c = await f.client();
  t.equal(c.directory.meta.externalAccountRequired, true);
  const none = await c.register();
  t.equal(none.body.type, `${P}externalAccountRequired`);

  const key = createEabKey(f.ca.store.acme, f.ca.meta.policy, { label: 'CT 1', allowIp: ['127.0.0.20/32'] });
  const wrongMac = await c.register({ externalAccountBinding: await c.eab(key.kid, Buffer.alloc(32, 1).toString('base64url')) });
  t.equal(wrongMac.body.type, `${P}unauthorized`, 'a MAC with the wrong key is refused');
  const unknown = await c.register({ externalAccountBinding: await c.eab('kid-nope', key.hmacKey) });
  t.equal(unknown.body.type, `${P}unauthorized`);
  const ok = await c.register({ externalAccountBinding: await c.eab(key.kid, key.hmacKey) });
  t.equal(ok.status, 201, ok.text);
  t.same(ok.body.externalAccountBinding, { kid: key.kid });
  t.equal(f.ca.store.acme.getEabKey(key.kid)?.accountId, ok.headers.location.split('/').pop(), 'the key is bound to the new account');

  const second = await f.client();
  const reuse = await second.register({ externalAccountBinding: await second.eab(key.kid, key.hmacKey) });
  t.equal(reuse.body.type, `${P}unauthorized`, 'an EAB key binds exactly one account');
  t.match(reuse.body.detail, /already bound/);

  // Binding: this account may order 127.0.0.20 only, though the CA permits all of 127.0.0.0/8.
  t.equal((await c.order([{ type: 'ip', value: '127.0.0.20' }])).status, 201);
  const outside = await c.order([{ type: 'ip', value: '127.0.0.21' }]);
  t.equal(outside.body.type, `${P}rejectedIdentifier`);
  t.match(outside.body.detail, /not among the names bound to this account's key/);
});

t.test('EAB HMAC keys never start with "-" (certbot would read one as an option) and carry 256 bits', async (t) => {
  // One plain base64url key in 64 starts with '-': across 5,000 keys a generator without the redraw fails
  // this test with certainty (the chance it passes is about e^-78).
  let dashed = 0;
  let wrongLength = 0;
  for (let i = 0; i < 5000; i++) {
    const key = newHmacKey();
    if (key.startsWith('-')) dashed++;
    if (Buffer.from(key, 'base64url').length !== 32) wrongLength++;
  }
  t.equal(dashed, 0, 'no key starts with a dash');
  t.equal(wrongLength, 0, 'every key decodes to 32 bytes');
});

t.test('EAB name binding by DNS suffix', async (t) => {
  const f = await acmeFixture(t, { externalAccountRequired: true });
  const key = createEabKey(f.ca.store.acme, f.ca.meta.policy, { allowDns: ['pacs.rad.klinikum.internal', '.lab.klinikum.internal'] });
  const c = await f.client();
  await c.register({ externalAccountBinding: await c.eab(key.kid, key.hmacKey) });
  t.equal((await c.order([{ type: 'dns', value: 'pacs.rad.klinikum.internal' }])).status, 201, 'exact name');
  t.equal((await c.order([{ type: 'dns', value: 'lis1.lab.klinikum.internal' }])).status, 201, 'below a bound suffix');
  t.equal((await c.order([{ type: 'dns', value: 'ct1.rad.klinikum.internal' }])).body.type, `${P}rejectedIdentifier`, 'a sibling of the bound name');
  t.equal((await c.order([{ type: 'ip', value: '127.0.0.1' }])).body.type, `${P}rejectedIdentifier`, 'no IPs when only names are bound');
  t.throws(() => createEabKey(f.ca.store.acme, f.ca.meta.policy, { allowDns: ['www.example.com'] }), { code: 'NAME_NOT_PERMITTED' }, 'cannot bind a name the CA may not sign');
});

t.test('ARI: renewalInfo per RFC 9773, replaces, and renew-early', async (t) => {
  const f = await acmeFixture(t);
  const c = await f.client();
  await c.register();
  const order = await f.authorize(c, [{ type: 'ip', value: '127.0.0.30' }]);
  const fin = await c.post(order.body.finalize, { csr: f.csrFor('ari', ['IP:127.0.0.30']) });
  const serial = fin.body.certificate.split('/').pop();
  const record = f.ca.store.getCertificate(serial)!;
  const certId = certIdOf(record.pem);
  t.match(certId, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, 'certID is base64url(AKI).base64url(serial)');

  const info = await f.send('GET', `${c.directory.renewalInfo}/${certId}`);
  t.equal(info.status, 200, 'renewalInfo is an unauthenticated GET');
  t.equal(info.headers['retry-after'], String(6 * 3600));
  const { start, end } = info.body.suggestedWindow;
  const nb = Date.parse(record.notBefore); const na = Date.parse(record.notAfter);
  t.ok(Date.parse(start) < Date.parse(end), 'start before end');
  t.ok(Date.parse(start) > nb + (na - nb) / 2 && Date.parse(end) < na, 'window lies in the second half of the lifetime, before expiry');
  t.equal((await f.send('GET', `${c.directory.renewalInfo}/AAAA.BBBB`)).status, 404, 'unknown certificate');
  const wrongAki = `${Buffer.alloc(20, 7).toString('base64url')}.${certId.split('.')[1]}`;
  t.equal((await f.send('GET', `${c.directory.renewalInfo}/${wrongAki}`)).status, 404, 'the right serial under another issuer key identifier is not this certificate');
  t.equal((await f.send('GET', `${c.directory.renewalInfo}/not-a-cert-id`)).body.type, `${P}malformed`);

  // renew-early moves the window to now: clients renew at once.
  f.ca.store.setRenewAfter([serial], new Date().toISOString());
  const early = await f.send('GET', `${c.directory.renewalInfo}/${certId}`);
  t.ok(Date.parse(early.body.suggestedWindow.start) <= Date.now(), 'window opens now after renew-early');

  // replaces: the renewal order names the old certificate; only once.
  const renewal = await c.order([{ type: 'ip', value: '127.0.0.30' }], { replaces: certId });
  t.equal(renewal.status, 201, renewal.text);
  t.equal(renewal.body.replaces, certId);
  const dup = await c.order([{ type: 'ip', value: '127.0.0.30' }], { replaces: certId });
  t.equal(dup.body.type, `${P}alreadyReplaced`);
  const other = await f.client();
  await other.register();
  t.equal((await other.order([{ type: 'ip', value: '127.0.0.30' }], { replaces: certId })).body.type, `${P}unauthorized`, "cannot replace another account's certificate");
});

t.test('suggestedWindow for revoked certificates is in the past (renew immediately)', async (t) => {
  const now = Date.now();
  const rec = { notBefore: new Date(now - 10 * 86_400_000).toISOString(), notAfter: new Date(now + 80 * 86_400_000).toISOString(), status: 'revoked', revokedAt: new Date(now).toISOString() } as CertificateRecord;
  const w = suggestedWindow(rec, now);
  t.ok(Date.parse(w.end) <= now);
  // RFC 9773 §4.2 example shape: a 90-day certificate gets a window well before expiry.
  const fresh = suggestedWindow({ ...rec, status: 'valid', revokedAt: undefined }, now);
  t.equal(Math.round((Date.parse(rec.notAfter) - Date.parse(fresh.start)) / 86_400_000), 30, 'opens with a third (30 of 90 days) left');
  t.equal(Math.round((Date.parse(fresh.end) - Date.parse(fresh.start)) / 86_400_000), 10, 'and stays open for 10 days');
});

t.test('certID per RFC 9773 §4.1 example: AKI 69:88:5B:...:C8:D4 and serial 00:87:65:43:21', async (t) => {
  // The RFC's example values, put into a real certificate with openssl: an issuer whose SKI is the
  // example keyIdentifier, and a leaf with the example serial (0x87654321: DER needs the leading 00).
  const dir = tempDir(t);
  const f = (n: string) => join(dir, n);
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2',
    '-subj', '/CN=RFC 9773 example issuer', '-addext', 'subjectKeyIdentifier=69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign']);
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('leaf.key'), '-out', f('leaf.csr'), '-subj', '/CN=example']);
  writeFileSync(f('leaf.ext'), 'authorityKeyIdentifier=keyid:always\n');
  openssl(['x509', '-req', '-in', f('leaf.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-set_serial', '0x87654321', '-days', '1', '-out', f('leaf.pem'),
    '-extfile', f('leaf.ext')]);
  const RFC_EXAMPLE = 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE';
  t.equal(certIdOf(readFileSync(f('leaf.pem'), 'utf8')), RFC_EXAMPLE, 'certIdOf gives the RFC\'s certID');
  t.same(parseCertId(RFC_EXAMPLE), { akiHex: '69885b6b87464041e1b37b847ba0ae2cde01c8d4', serial: '87654321' }, 'and parseCertId reads it back');
});
