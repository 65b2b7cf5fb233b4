/**
 * Two ARI (RFC 9773) faults that Apache mod_md 2.6.10 revealed (test/interop/apache-mod-md.test.ts):
 * `renew-early` must give a window wholly in the past, and `replaces` must be kept in one spelling.
 */
import t from 'tap';
import { certIdOf, suggestedWindow } from '../../src/acme/ari.ts';
import type { CertificateRecord } from '../../src/store/types.ts';
import { acmeFixture } from '../helpers/acme-fixture.ts';

const P = 'urn:ietf:params:acme:error:';

t.test('renew-early: the suggested window has closed by the time renew-early ran', async (t) => {
  // A client renews at a uniformly random time inside the window, and at once only when that time has
  // passed (RFC 9773 §4.2); "renew now" is a window wholly in the past (§7). A window merely opening
  // now made mod_md wait up to an hour after a key compromise.
  const now = Date.parse('2026-11-26T12:00:00Z');
  const rec = {
    notBefore: new Date(now - 10 * 86_400_000).toISOString(), notAfter: new Date(now + 80 * 86_400_000).toISOString(),
    status: 'valid', renewAfter: new Date(now).toISOString(),
  } as CertificateRecord;
  const w = suggestedWindow(rec, now);
  t.ok(Date.parse(w.start) < Date.parse(w.end), `a real window: ${w.start} .. ${w.end}`);
  t.ok(Date.parse(w.end) <= now, `it ends no later than renew-early ran (${w.end})`);
});

/** The same certID with the serial spelled otherwise: without the DER sign byte, or with an extra 00. */
function respelled(certId: string): string {
  const [aki, serial] = certId.split('.');
  const bytes = Buffer.from(serial, 'base64url');
  const other = bytes[0] === 0 ? bytes.subarray(1) : Buffer.concat([Buffer.from([0]), bytes]);
  return `${aki}.${other.toString('base64url')}`;
}

t.test('replaces: one certificate is replaced once, however the client spells its certID', async (t) => {
  const f = await acmeFixture(t);
  const c = await f.client();
  await c.register();
  const order = await f.authorize(c, [{ type: 'ip', value: '127.0.0.31' }]);
  const fin = await c.post(order.body.finalize, { csr: f.csrFor('ari-spelling', ['IP:127.0.0.31']) });
  const certId = certIdOf(f.ca.store.getCertificate(fin.body.certificate.split('/').pop())!.pem);
  const other = respelled(certId);
  t.not(other, certId, `a second spelling: ${other} (RFC 9773 §4.1 form: ${certId})`);

  // Another spelling (mod_md 2.6.10 leaves out the 00 sign byte) is accepted for interop, but kept in the §4.1 form.
  const first = await c.order([{ type: 'ip', value: '127.0.0.31' }], { replaces: other });
  t.equal(first.status, 201, first.text);
  t.equal(first.body.replaces, certId, 'the order names the certificate by its canonical certID');
  t.equal(f.ca.store.acme.getOrder(String(first.headers.location).split('/').pop()!)?.replaces, certId, 'and is stored so');

  const second = await c.order([{ type: 'ip', value: '127.0.0.31' }], { replaces: certId });
  t.equal(second.body.type, `${P}alreadyReplaced`, `a second replacement under the other spelling is refused (RFC 9773 §5): ${second.text}`);
});
