/**
 * Finding rules on certificates made by openssl: expiry policy (a third of the lifetime AND under
 * 30 days: healthy short-lived certificates pass), weak keys, weak signatures, trust path, name
 * check; and recommendations carry concrete commands in English and German.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import t from 'tap';
import { chainsToAnchor, isSelfSigned, isWeakKey, nameMatches, summarize } from '../../src/scan/certificate.ts';
import { DEFAULT_EXPIRY, evaluateFindings, expiryFindings } from '../../src/scan/findings.ts';
import { recommend } from '../../src/scan/recommendations.ts';
import { FINDING_IDS } from '../../src/scan/types.ts';
import { tempDir } from '../helpers/tmp.ts';
import { TestPki } from './fixtures/certs.ts';

const DAY = 86_400_000;
const pki = new TestPki(tempDir(t, 'wardgate-findings-'));
const load = (f: string) => new X509Certificate(readFileSync(f));
const root = load(pki.rootCert);
const ip = 'IP:127.20.0.5';

t.test('expiry: lifetime fraction and days must both be short', async (t) => {
  const now = new Date();
  const cases: Array<[string, number, number, string[]]> = [
    ['90-day cert, 10 days left', -80, 10, ['cert-expiring-soon']],
    ['90-day cert, 40 days left', -50, 40, []],
    ['7-day cert, 5 days left (healthy short-lived)', -2, 5, []],
    ['7-day cert, 1 day left', -6, 1, ['cert-expiring-soon']],
    ['2-year cert, 29 days left', -701, 29, ['cert-expiring-soon']],
    ['expired yesterday', -365, -1, ['cert-expired']],
  ];
  for (const [label, from, to, want] of cases) {
    const c = load(pki.leaf({ name: `exp${from}_${to}`.replace(/-/g, 'm'), san: ip, from, to }).cert);
    t.same(expiryFindings(c, now, DEFAULT_EXPIRY), want, label);
  }
  const c = load(pki.leaf({ name: 'cfg', san: ip, from: -80, to: 10 }).cert);
  t.same(expiryFindings(c, now, { fraction: 0.05, days: 30 }), [], 'thresholds are configurable');
  t.same(expiryFindings(c, new Date(Date.now() - 75 * DAY), DEFAULT_EXPIRY), [], 'evaluated at the given time');
});

t.test('certificate facts', async (t) => {
  const good = load(pki.leaf({ name: 'good', san: 'IP:127.20.0.5,DNS:ct1.klinikum.internal', from: -1, to: 365 }).cert);
  const self = load(pki.leaf({ name: 'self', san: ip, from: 0, to: 30, issuer: 'self' }).cert);
  const rogue = load(pki.leaf({ name: 'rogue', san: ip, from: -1, to: 30, issuer: 'rogue' }).cert);
  const rsa1024 = load(pki.leaf({ name: 'rsa1024', san: ip, from: -1, to: 30, key: 'rsa:1024' }).cert);
  const sha1 = load(pki.leaf({ name: 'sha1', san: ip, from: -1, to: 30, md: 'sha1' }).cert);
  t.ok(chainsToAnchor([good], [root]), 'leaf signed by the anchor');
  t.notOk(chainsToAnchor([rogue], [root]), 'rogue CA is not trusted');
  t.ok(chainsToAnchor([self], [self]), 'a pinned self-signed certificate is trusted');
  t.ok(isSelfSigned(self) && !isSelfSigned(good), 'self-signed detection');
  const s = summarize(rsa1024);
  t.same([s.keyType, s.keyBits], ['rsa', 1024]);
  t.ok(isWeakKey(s.keyType, s.keyBits) && !isWeakKey('rsa', 2048) && isWeakKey('ec-secp224r1', 224) && !isWeakKey('ec-prime256v1', 256), 'weak key rule');
  t.match(summarize(sha1).signatureAlgorithm, /SHA1/i);
  t.equal(nameMatches(good, '127.20.0.5'), true);
  t.equal(nameMatches(good, '127.20.0.6'), null, 'by address with DNS names present: cannot tell, no finding');
  t.equal(nameMatches(self, '127.20.0.6'), false, 'address-only certificate for another address');
  t.equal(nameMatches(good, '127.20.0.5', 'ct1.klinikum.internal'), true);
  t.equal(nameMatches(good, '127.20.0.5', 'mr2.klinikum.internal'), false);
  const base = { address: '127.20.0.5', port: 2762, protocol: 'dicom' as const, tls: true };
  const ids = (chain: X509Certificate[], extra = {}) => evaluateFindings({ ...base, chain, trusted: chainsToAnchor(chain, [root]), hostnameMatches: nameMatches(chain[0], '127.20.0.5'), ...extra }, { lang: 'en', now: new Date(), expiry: DEFAULT_EXPIRY }).map((f) => f.id);
  t.same(ids([good]), [], 'a good certificate raises nothing');
  t.same(ids([self]), ['cert-self-signed'], 'self-signed (not also untrusted-issuer)');
  t.same(ids([rogue]), ['cert-untrusted-issuer']);
  t.same(ids([rsa1024]), ['cert-weak-key']);
  t.same(ids([sha1]), ['cert-weak-signature']);
  t.same(ids([good], { legacyVersions: ['TLSv1.0'], weakCiphers: ['TLS_RSA_WITH_3DES_EDE_CBC_SHA'] }), ['tls-legacy-version', 'tls-weak-cipher']);
  t.same(evaluateFindings({ ...base, tls: false }, { lang: 'en', now: new Date(), expiry: DEFAULT_EXPIRY }).map((f) => f.id), ['plaintext-dicom']);
  t.same(evaluateFindings({ ...base, protocol: 'other', tls: false, anyAeAccepted: true }, { lang: 'en', now: new Date(), expiry: DEFAULT_EXPIRY }), [], 'other services never get DICOM findings');
});

t.test('recommendations: concrete, both languages', async (t) => {
  for (const id of FINDING_IDS) {
    const ctx = { address: '10.1.2.3', port: 104, protocol: 'dicom' as const, gateway: '10.1.0.2', acmeUrl: 'https://ca.klinikum.internal/acme/directory' };
    const en = recommend(id, 'en', ctx);
    const de = recommend(id, 'de', ctx);
    t.match(en.recommendation, /`(wardgate|certbot) [^`]+`/, `${id}: en has a command`);
    t.match(de.recommendation, /`(wardgate|certbot) [^`]+`/, `${id}: de has a command`);
    t.not(en.title, de.title, `${id}: translated title`);
  }
  const r = recommend('plaintext-dicom', 'en', { address: '10.1.2.3', port: 104, protocol: 'dicom', gateway: '10.1.0.2', acmeUrl: 'https://ca/acme/directory' });
  t.match(r.recommendation, 'wardgate proxy inbound --protocol dicom --listen 10.1.0.2:2762 --upstream 10.1.2.3:104 --acme https://ca/acme/directory --name 10.1.2.3', 'exact gateway route');
  t.match(recommend('plaintext-hl7', 'de', { address: '10.1.2.4', port: 2575, protocol: 'hl7' }).recommendation, '--protocol hl7 --listen GATEWAY:2575 --upstream 10.1.2.4:2575');
});
